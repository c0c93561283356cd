/* secret.c: being written. */
typedef int secret_placeholder_unused;
