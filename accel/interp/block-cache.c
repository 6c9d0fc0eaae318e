/* Placeholder: block-cache.c is being written. */
