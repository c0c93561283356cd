/* ca.c: being written. */
typedef int ca_placeholder_unused;
