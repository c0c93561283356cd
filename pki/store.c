/* store.c: being written. */
typedef int store_placeholder_unused;
