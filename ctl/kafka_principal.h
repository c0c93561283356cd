/*
 * kafka_principal.h: the Kafka principal a client certificate authenticates as, and the
 * kafka-acls command that denies it.  Shared by `mskpkictl probe` (remediation of
 * revoked_client_cert) and `mskpkictl cert revoke`: Amazon MSK does not check CRLs, so a revoked
 * certificate keeps its access until an ACL denies its principal.
 *
 * Kafka's DefaultKafkaPrincipalBuilder with the default ssl.principal.mapping.rules (DEFAULT)
 * names an SSL client "User:" + X500Principal.getName(), the RFC 2253 form of the subject as
 * the JDK writes it (Kafka docs, "Customizing SSL User Name": "CN=writeuser,OU=Unknown,...";
 * JDK sun.security.x509.AVA.toRFC2253String and AVAKeyword).  The rules reproduced here:
 *   - RDNs last to first, joined by ','; the AVAs of a multi-valued RDN joined by '+';
 *   - keywords only for CN, C, L, ST, O, OU, STREET, DC, UID; any other attribute (emailAddress,
 *     serialNumber, ...) is written as its dotted OID with '#' and the lowercase hex of the
 *     value's DER encoding, as are values that are not a string type;
 *   - in string values, each of , = + < > # ; " \ gets a backslash, NUL is written \00, and
 *     leading and trailing spaces get a backslash; other characters (UTF-8) stay as they are.
 * Nothing here allocates on the heap: results go into caller buffers.
 */
#ifndef CTL_KAFKA_PRINCIPAL_H
#define CTL_KAFKA_PRINCIPAL_H

#include <stddef.h>

#include <openssl/x509.h>

#include "pki/err.h"

/* Writes "User:<RFC 2253 subject>" for name into buf (capacity cap).  Returns 0, or -1 with
 * MK_ERR_NOMEM when cap is too small, MK_ERR_INVALID for a name OpenSSL cannot convert. */
int kafka_principal_from_name(const X509_NAME *name, char *buf, size_t cap,
                              struct mk_err *err) MK_MUST_CHECK;

/* Writes the kafka-acls command line that denies principal every operation on every topic,
 * group and the cluster, the principal single-quoted for a POSIX shell.  bootstrap is put in
 * --bootstrap-server as given (a placeholder when the caller does not know the brokers).
 * Returns 0, or -1 with MK_ERR_NOMEM when cap is too small. */
int kafka_acl_deny_command(const char *principal, const char *bootstrap, char *buf, size_t cap,
                           struct mk_err *err) MK_MUST_CHECK;

#endif
