/* conf.c: being written. */
typedef int conf_placeholder_unused;
