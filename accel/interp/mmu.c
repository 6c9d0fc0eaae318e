/* Placeholder: mmu.c is being written. */
