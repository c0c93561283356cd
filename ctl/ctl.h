/*
 * ctl.h: the subcommands of mskpkictl.  Each takes the arguments from the subcommand name on
 * (argv[0] is "audit", "probe", ...) and returns the process exit status documented in its
 * man page and docs/: 0 all good, 1 findings/failures, 2 usage error, 3 could not run.
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

enum ctl_exit { CTL_EXIT_OK = 0, CTL_EXIT_FINDINGS = 1, CTL_EXIT_USAGE = 2, CTL_EXIT_UNAVAILABLE = 3 };

int ctl_audit_main(int argc, char **argv);
int ctl_probe_main(int argc, char **argv);
int ctl_status_main(int argc, char **argv);
int ctl_cert_main(int argc, char **argv);
int ctl_credentials_main(int argc, char **argv);

#endif
