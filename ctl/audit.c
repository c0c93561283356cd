/* audit.c: scaffold until the audit command lands. */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_audit_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mskpkictl audit: not built yet\n");
    return CTL_EXIT_UNAVAILABLE;
}
