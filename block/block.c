/* Placeholder: being written. */
typedef int lemu_placeholder_block_c;
