/* Placeholder: cpuid.c is being written. */
