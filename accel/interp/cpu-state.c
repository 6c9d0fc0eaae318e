/* Placeholder: cpu-state.c is being written. */
