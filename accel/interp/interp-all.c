/* Placeholder: interp-all.c is being written. */
