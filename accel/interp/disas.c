/* Placeholder: disas.c is being written. */
