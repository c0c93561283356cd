/* output.c: see output.h. */
#include "ctl/output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ctl/ctl.h"
#include "pki/store.h"

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "mskpkictl %s: %s (see mskpkictl %s --help)\n", cmd, msg, cmd);
    return CTL_EXIT_USAGE;
}

/* The long option that arg ("--name" or "--name=value") spells out in full, or NULL. */
static const struct option *exact_option(const char *arg, const struct option *longopts)
{
    size_t l = strcspn(arg + 2, "=");
    for (const struct option *o = longopts; o->name != NULL; o++) {
        if (strlen(o->name) == l && strncmp(arg + 2, o->name, l) == 0) {
            return o;
        }
    }
    return NULL;
}

int ctl_options_check(int argc, char **argv, const struct option *longopts, struct mk_err *err)
{
    optind = 1;
    opterr = 0;
    for (int i = 1; i < argc; i++) {
        const struct option *o;
        if (strcmp(argv[i], "--") == 0) {
            return 0;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            continue;
        }
        o = exact_option(argv[i], longopts);
        if (o == NULL) {
            size_t l = strcspn(argv[i], "=");
            mk_err_set(err, MK_ERR_USAGE, "unknown option '%.*s' (options are not abbreviated)",
                       (int)(l < 200 ? l : 200), argv[i]);
            return -1;
        }
        if (o->has_arg == required_argument && strchr(argv[i], '=') == NULL) {
            i++; /* the value, whatever it looks like */
        }
    }
    return 0;
}

int ctl_options_begin(const char *cmd, int argc, char **argv, const struct option *longopts)
{
    struct mk_err err = {0};
    if (ctl_options_check(argc, argv, longopts, &err) != 0) {
        return ctl_usage_error(cmd, "%s", err.msg);
    }
    return 0;
}

int ctl_option_error(const char *cmd, int ch, int argc, char **argv)
{
    const char *word = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
    if (ch == ':') {
        return ctl_usage_error(cmd, "%s needs a value", word);
    }
    return ctl_usage_error(cmd, "unknown option '%s'", word);
}

int ctl_exit_for(const struct mk_err *err)
{
    switch (err->code) {
    case MK_ERR_USAGE:
    case MK_ERR_CONFIG:
    case MK_ERR_PERM:
        return CTL_EXIT_USAGE;
    case MK_ERR_NET:
    case MK_ERR_TIMEOUT:
    case MK_ERR_CREDS:
    case MK_ERR_PENDING:
    case MK_ERR_IO:
    case MK_ERR_NOMEM:
        return CTL_EXIT_UNAVAILABLE;
    default:
        return CTL_EXIT_FINDINGS;
    }
}

int ctl_write_report(const char *opt, const char *path, const char *data, size_t len,
                     struct mk_err *err)
{
    if (pki_store_write_file(path, data, len, 0644, (uid_t)-1, (gid_t)-1, err) != 0) {
        mk_err_prefix(err, "%s %s", opt, path);
        return -1;
    }
    return 0;
}

void ctl_xml_put(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        case '\n':
        case '\t':
            fputc(c, out);
            break;
        default:
            fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
            break;
        }
    }
}
