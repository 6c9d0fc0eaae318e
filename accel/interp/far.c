/* Placeholder: far.c is being written. */
