/* csr.c: being written. */
typedef int csr_placeholder_unused;
