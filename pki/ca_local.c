/* ca_local.c: being written. */
typedef int ca_local_placeholder_unused;
