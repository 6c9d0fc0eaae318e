/* Placeholder: flags.c is being written. */
