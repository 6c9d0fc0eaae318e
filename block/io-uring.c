/* Placeholder: being written. */
typedef int lemu_placeholder_io_uring_c;
