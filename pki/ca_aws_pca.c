/* ca_aws_pca.c: scaffold until the aws-pca backend lands (issue 3); refuses clearly. */
#include "pki/ca.h"

struct pki_ca *pki_ca_aws_pca_new(const struct pki_ca_aws_pca_config *cfg, struct mk_err *err)
{
    (void)cfg;
    mk_err_set(err, MK_ERR_STATE, "ca: aws-pca backend is not built yet");
    return NULL;
}
