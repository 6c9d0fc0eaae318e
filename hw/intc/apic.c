/* placeholder: being written */
typedef int lemu_placeholder_t;
