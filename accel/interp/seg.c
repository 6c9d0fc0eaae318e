/* Placeholder: seg.c is being written. */
