/* Placeholder: being written. */
typedef int lemu_placeholder_file_posix_c;
