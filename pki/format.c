/* format.c: being written. */
typedef int format_placeholder_unused;
