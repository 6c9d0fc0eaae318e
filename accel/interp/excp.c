/* Placeholder: excp.c is being written. */
