/* status.c: scaffold until the status command lands. */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_status_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mskpkictl status: not built yet\n");
    return CTL_EXIT_UNAVAILABLE;
}
