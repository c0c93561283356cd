/* Replaced by the aws/ modules. */
typedef int aws_placeholder_unused;
