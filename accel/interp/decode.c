/* Placeholder: decode.c is being written. */
