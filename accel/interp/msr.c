/* Placeholder: msr.c is being written. */
