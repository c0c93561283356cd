/* cert.c: being written. */
typedef int cert_placeholder_unused;
