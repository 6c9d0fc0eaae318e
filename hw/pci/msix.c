/* Placeholder: being written. */
typedef int lemu_placeholder_msix_c;
