/* key.c: being written. */
typedef int key_placeholder_unused;
