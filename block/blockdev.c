/* Placeholder: being written. */
typedef int lemu_placeholder_blockdev_c;
