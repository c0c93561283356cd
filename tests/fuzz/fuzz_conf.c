/*
 * fuzz_conf.c: conf_load() on hostile configuration files.  The config is written by an operator,
 * but a typo must still end in a one-line error, never a crash.  conf_load() reads a path (for
 * @include and its error messages), so each input goes through one file in a private temp dir.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "fuzz.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/mskpki-fuzz-conf.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/mskpki.conf", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_err err;
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
    struct conf *cfg = conf_load(path, &err);
    if (cfg == NULL) {
        fuzz_expect_one_line(&err);
    }
    conf_free(cfg);
    return 0;
}
