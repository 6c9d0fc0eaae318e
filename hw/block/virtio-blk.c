/* Placeholder: being written. */
typedef int lemu_placeholder_virtio_blk_c;
