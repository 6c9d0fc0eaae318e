/* Placeholder: being written. */
typedef int lemu_placeholder_qcow2_qcow2_check_c;
