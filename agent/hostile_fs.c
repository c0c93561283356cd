/* hostile_fs.c: the filesystem attacks of a compromised network process (see hostile_fs.h);
 * compiled into test builds only. */
#include "agent/hostile_fs.h"

#ifdef MK_TESTING

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki/log.h"

static void report(const char *attack, int ok, int e, const char *path)
{
    mk_log(ok ? MK_LOG_ERROR : MK_LOG_INFO, "hostile", "attack=%s result=%s errno=%d path=%s",
           attack, ok ? "accepted" : "refused", ok ? 0 : e, path);
}

/* Opens path for writing without writing a byte. */
static void try_write(const char *attack, const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    int e = errno;

    report(attack, fd >= 0, e, path);
    if (fd >= 0) {
        close(fd);
    }
}

/* Creates a new file in dir, and removes it again when that worked. */
static void try_create(const char *attack, const char *dir)
{
    char path[4096];
    int fd;
    int e;

    snprintf(path, sizeof(path), "%s/.mskpki-hostile-%ld", dir, (long)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    e = errno;
    report(attack, fd >= 0, e, path);
    if (fd >= 0) {
        close(fd);
        (void)unlink(path);
    }
}

static int one(const char *attack, const struct conf *cfg)
{
    int all = strcmp(attack, "fs_all") == 0;
    int known = all;

    for (size_t i = 0; i < cfg->n_certs; i++) {
        const char *prog = cfg->certs[i].hook.argv != NULL ? cfg->certs[i].hook.argv[0] : NULL;
        if (prog == NULL) {
            continue;
        }
        if (all || strcmp(attack, "hook_write") == 0) {
            try_write("hook_write", prog);
            known = 1;
        }
        if (all || strcmp(attack, "hook_dir") == 0) {
            char *copy = strdup(prog);
            if (copy != NULL) {
                try_create("hook_dir", dirname(copy));
            }
            free(copy);
            known = 1;
        }
    }
    if (all || strcmp(attack, "config_write") == 0) {
        try_write("config_write", cfg->path);
        known = 1;
    }
    if (all || strcmp(attack, "shm_create") == 0) {
        try_create("shm_create", "/dev/shm");
        known = 1;
    }
    if (all || strcmp(attack, "tmp_create") == 0) {
        try_create("tmp_create", "/tmp");
        known = 1;
    }
    if (all || strcmp(attack, "setuid_root") == 0) {
        int r = setuid(0);
        report("setuid_root", r == 0 && getuid() == 0, errno, "-");
        known = 1;
    }
    if (all || strcmp(attack, "state_create") == 0) {
        try_create("state_create", cfg->state_dir);
        known = 1;
    }
    return known;
}

int agent_hostile_fs_run(const char *attack, const struct conf *cfg)
{
    char *copy = strdup(attack);
    char *save = NULL;
    int known = 0;

    if (copy == NULL) {
        return 0;
    }
    for (char *a = strtok_r(copy, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
        known |= one(a, cfg);
    }
    free(copy);
    return known;
}

#endif
