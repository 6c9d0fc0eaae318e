/* Placeholder: being written. */
typedef int lemu_placeholder_raw_format_c;
