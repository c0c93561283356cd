/*
 * check.h: mskpki-agent --check-config [--online] [--format text|json].
 *
 * What can be checked before the first rotation, each check named and reported: the
 * configuration itself (conf_load), agent.user, the trusted paths (conf/paths.h), and per
 * certificate its hook program (exists, executable, trusted), the parent of its output
 * directory, its secret files (read as the key process reads them: pki_secret_read_file, so run
 * it as the user the agent runs as) and, for aws-pca, the CA's region.  --online adds what
 * needs AWS: the credentials chain and DescribeCertificateAuthority against each certificate's
 * validity (ACTIVE, usage mode, expiry).  Nothing is written.
 */
#ifndef AGENT_CHECK_H
#define AGENT_CHECK_H

/* Exit statuses: every check passed; an offline check failed (the configuration is wrong);
 * the offline checks passed but an online one failed (AWS said no, or could not be reached). */
#define AGENT_CHECK_OK 0
#define AGENT_CHECK_CONFIG 2
#define AGENT_CHECK_ONLINE 3

/* Runs the checks of the configuration at path; prints text (failures on stderr, one line each,
 * then a summary on stdout when all passed) or one JSON document on stdout (json).  Returns one
 * of the exit statuses above. */
int agent_check_config(const char *path, int online, int json);

#endif
