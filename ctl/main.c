/* main.c: mskpkictl, the SRE's tool: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "ctl/control.h"
#include "ctl/ctl.h"

struct ctl_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct ctl_command commands[] = {
    {"cert", ctl_cert_main, "inspect, issue and revoke certificates by hand"},
    {"audit", ctl_audit_main, "check MSK, Kinesis, Firehose and KMS posture"},
    {"probe", ctl_probe_main, "negative mTLS handshake tests against Kafka brokers"},
    {"status", ctl_status_main, "show the certificates an mskpki-agent manages"},
    {"credentials", ctl_credentials_main, "AWS credentials from IAM Roles Anywhere (JSON)"},
    {"renew", ctl_renew_main, "have the running mskpki-agent renew certificates now"},
    {"reload", ctl_reload_main, "have the running mskpki-agent reload its configuration"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: mskpkictl COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nmskpkictl COMMAND --help shows a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "mskpkictl: no command given\n");
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mskpkictl %s\n", MSKPKI_VERSION);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "mskpkictl: unknown command '%s' (try mskpkictl --help)\n", argv[1]);
    return CTL_EXIT_USAGE;
}
