/* Placeholder: exec.c is being written. */
