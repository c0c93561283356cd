/*
 * arn.h: the one ARN field every layer needs, the region
 * (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, AWS General Reference, "Amazon Resource Names").
 */
#ifndef AWS_ARN_H
#define AWS_ARN_H

#include <stddef.h>

/*
 * Copies the REGION field of arn into buf (size bytes) and returns buf, or NULL when arn is not
 * an ARN, has no region (IAM, S3) or the region does not fit.  The region becomes part of host
 * names, so only what region names are made of is accepted: a-z, 0-9 and '-'.
 */
const char *aws_arn_region(const char *arn, char *buf, size_t size);

#endif
