/* probe.c: scaffold until the probe command lands. */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_probe_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mskpkictl probe: not built yet\n");
    return CTL_EXIT_UNAVAILABLE;
}
