/*
 * creds.h: AWS credentials and the SDKs' default provider chain.
 *
 * Order (the first source that is configured wins; a configured source that fails is an error,
 * not a fall-through, as in the SDKs):
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (STS AssumeRoleWithWebIdentity);
 *   3. the profile in the shared files: role_arn + source_profile / credential_source (STS
 *      AssumeRole), web_identity_token_file + role_arn, static keys, credential_process;
 *   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (http://169.254.170.2) or _FULL_URI,
 *      with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   5. EC2 IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address,
 *      AWS_EC2_METADATA_DISABLED=true skips it).
 * A profile given explicitly (aws_creds_provider_new's profile: --profile, aws_pca.profile) is
 * the only source, as with the AWS CLI's --profile: the environment's keys do not override it and
 * a missing or empty profile is MK_ERR_CREDS.  AWS_PROFILE keeps the order above.
 * The chain's own STS calls (source 2, a profile's role_arn or web identity) go to
 * AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, then the regional endpoint: the client's endpoint_url
 * option is for the services called, as the AWS CLI's --endpoint-url.
 * Temporary credentials are refreshed 5 minutes before they expire, under a mutex.  The secret
 * key and session token live in pki_secret memory.
 */
#ifndef AWS_CREDS_H
#define AWS_CREDS_H

#include <time.h>

#include "pki/err.h"
#include "pki/secret.h"

struct aws_client;

struct aws_creds {
    char access_key_id[128]; /* not a secret: it appears in signatures */
    struct pki_secret *secret_access_key;
    struct pki_secret *session_token; /* NULL for long-term keys */
    time_t expiration;                /* 0 = does not expire */
    char source[32];                  /* "env", "web-identity", "profile", "assume-role",
                                         "process", "container", "imds" */
};

/* Refresh this long before expiry. */
#define AWS_CREDS_REFRESH_EARLY_S 300

/* Copies c.  Caller frees with aws_creds_free(). */
struct aws_creds *aws_creds_dup(const struct aws_creds *c, struct mk_err *err) MK_MUST_CHECK;
/* Builds credentials from strings (secret and token copied into pki_secret).  token may be NULL.
 * Caller frees with aws_creds_free(). */
struct aws_creds *aws_creds_make(const char *akid, const char *secret, const char *token,
                                 time_t expiration, const char *source,
                                 struct mk_err *err) MK_MUST_CHECK;
void aws_creds_free(struct aws_creds *c);

struct aws_creds_provider;

/* A provider for client (used for STS calls) and profile (NULL = AWS_PROFILE, then "default").
 * Nothing is resolved until the first aws_creds_provider_get().  Caller frees with
 * aws_creds_provider_free() before the client goes. */
struct aws_creds_provider *aws_creds_provider_new(struct aws_client *client, const char *profile,
                                                  struct mk_err *err) MK_MUST_CHECK;
void aws_creds_provider_free(struct aws_creds_provider *p);

/* Makes p hand out the credentials of STS AssumeRole(role_arn), signed with what the chain
 * resolves.  session and external_id may be NULL.  Call before the first get.  Returns 0 or -1
 * (MK_ERR_NOMEM).  A failed AssumeRole keeps its own code (MK_ERR_AWS, MK_ERR_NET, ...); only a
 * chain without credentials is MK_ERR_CREDS. */
int aws_creds_provider_set_role(struct aws_creds_provider *p, const char *role_arn,
                                const char *session, const char *external_id,
                                struct mk_err *err) MK_MUST_CHECK;

/* Current credentials (resolved or refreshed when needed); thread-safe.  Caller frees with
 * aws_creds_free().  MK_ERR_CREDS when the chain finds nothing or a source fails. */
struct aws_creds *aws_creds_provider_get(struct aws_creds_provider *p,
                                         struct mk_err *err) MK_MUST_CHECK;
/* Forgets cached credentials (after an ExpiredToken answer). */
void aws_creds_provider_invalidate(struct aws_creds_provider *p);

/*
 * A source asked before the chain (IAM Roles Anywhere with the agent's own certificate, see
 * aws/rolesanywhere.h).  It returns 1 with *out, 0 when it cannot be used now (no valid
 * certificate yet: the chain is used, which is how a host bootstraps), or -1 with err (the chain
 * is still tried; when it has nothing either, both reasons are reported in one line).  arg is
 * borrowed for the provider's life.  Set it before the first get; not thread-safe.
 */
typedef int (*aws_creds_source_fn)(void *arg, struct aws_creds **out, struct mk_err *err);
void aws_creds_provider_set_source(struct aws_creds_provider *p, aws_creds_source_fn fn,
                                   void *arg);
void aws_client_set_credentials_source(struct aws_client *client, aws_creds_source_fn fn,
                                       void *arg);
/* The source ("env", "roles-anywhere", ...) and expiry (0 = none) of the cached credentials;
 * source "" when nothing is cached. */
void aws_creds_provider_info(struct aws_creds_provider *p, char *source, size_t size,
                             time_t *expiration);
void aws_client_credentials_info(struct aws_client *client, char *source, size_t size,
                                 time_t *expiration);

/* Parses an ISO 8601 UTC time ("2026-01-02T03:04:05Z", fractions and +hh:mm offsets allowed).
 * Returns 0 or -1. */
int aws_parse_iso8601(const char *s, time_t *out) MK_MUST_CHECK;

#endif
