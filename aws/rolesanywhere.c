/*
 * rolesanywhere.c: IAM Roles Anywhere CreateSession; see rolesanywhere.h and
 * https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html
 */
#include "aws/rolesanywhere.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aws/buf.h"
#include "aws/client-int.h"
#include "aws/sigv4.h"

#define RA_SERVICE "rolesanywhere"
#define RA_TIMEOUT_MS 30000
#define RA_CONNECT_MS 5000

const char *aws_ra_algorithm(EVP_PKEY *key, struct mk_err *err)
{
    switch (key != NULL ? EVP_PKEY_get_base_id(key) : EVP_PKEY_NONE) {
    case EVP_PKEY_EC:
        return AWS_RA_ALG_ECDSA;
    case EVP_PKEY_RSA:
        return AWS_RA_ALG_RSA;
    default:
        mk_err_set(err, MK_ERR_CONFIG,
                   "roles anywhere: the certificate's key is %s; Roles Anywhere accepts only EC "
                   "and RSA keys (key_type ec-p256, ec-p384 or rsa-*)",
                   key != NULL ? OBJ_nid2sn(EVP_PKEY_get_base_id(key)) : "missing");
        return NULL;
    }
}

/* "YYYYMMDDTHHMMSSZ" */
static int amz_date_ok(const char *s)
{
    if (s == NULL || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') {
        return 0;
    }
    for (int i = 0; i < 15; i++) {
        if (i != 8 && !isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int region_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 32) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-') {
            return 0;
        }
    }
    return 1;
}

static int hash_ok(const char *s)
{
    if (s == NULL || strlen(s) != 64) {
        return 0;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return 0;
        }
    }
    return 1;
}

char *aws_ra_string_to_sign(const char *algorithm, const char *amz_date, const char *region,
                            const char *creq_hash, struct mk_err *err)
{
    struct aws_buf b = {0};
    if (algorithm == NULL ||
        (strcmp(algorithm, AWS_RA_ALG_ECDSA) != 0 && strcmp(algorithm, AWS_RA_ALG_RSA) != 0)) {
        mk_err_set(err, MK_ERR_INVALID, "roles anywhere: unknown signing algorithm");
        return NULL;
    }
    if (!amz_date_ok(amz_date) || !region_ok(region) || !hash_ok(creq_hash)) {
        mk_err_set(err, MK_ERR_INVALID,
                   "roles anywhere: string to sign: bad date, region or request hash");
        return NULL;
    }
    if (aws_buf_printf(&b, err, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s", algorithm, amz_date,
                       amz_date, region, RA_SERVICE, creq_hash) != 0) {
        aws_buf_free(&b);
        return NULL;
    }
    return aws_buf_steal(&b);
}

int aws_ra_sign_fields(EVP_PKEY *key, const char *amz_date, const char *region,
                       const char *creq_hash, unsigned char **sig, size_t *sig_len,
                       struct mk_err *err)
{
    int rc = -1;
    char *sts = NULL;
    unsigned char *out = NULL;
    size_t len = 0;
    EVP_MD_CTX *md = NULL;
    const char *alg = aws_ra_algorithm(key, err);
    MK_GUARD_PTR(alg);
    sts = aws_ra_string_to_sign(alg, amz_date, region, creq_hash, err);
    MK_GUARD_PTR(sts);
    md = EVP_MD_CTX_new();
    MK_ENSURE(md != NULL, err, MK_ERR_NOMEM, "out of memory");
    /* RSA keys default to PKCS#1 v1.5 padding, which AWS4-X509-RSA-SHA256 is; ECDSA gives DER. */
    MK_GUARD_OSSL(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1, err, MK_ERR_CRYPTO,
                  "roles anywhere: EVP_DigestSignInit");
    MK_GUARD_OSSL(EVP_DigestSign(md, NULL, &len, (const unsigned char *)sts, strlen(sts)) == 1, err,
                  MK_ERR_CRYPTO, "roles anywhere: EVP_DigestSign");
    out = malloc(len);
    MK_ENSURE(out != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_GUARD_OSSL(EVP_DigestSign(md, out, &len, (const unsigned char *)sts, strlen(sts)) == 1, err,
                  MK_ERR_CRYPTO, "roles anywhere: EVP_DigestSign");
    *sig = out;
    *sig_len = len;
    out = NULL;
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    free(out);
    free(sts);
    return rc;
}

int aws_ra_region_from_arn(const char *arn, char *out, size_t size, struct mk_err *err)
{
    /* arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */
    const char *p = arn;
    for (int i = 0; p != NULL && i < 3; i++) {
        p = strchr(p, ':');
        p = p != NULL ? p + 1 : NULL;
    }
    size_t n = p != NULL ? strcspn(p, ":") : 0;
    if (arn == NULL || strncmp(arn, "arn:", 4) != 0 || p == NULL || n == 0 || n >= size ||
        p[n] != ':') {
        mk_err_set(err, MK_ERR_CONFIG, "roles anywhere: '%.200s' is not an ARN with a region",
                   arn != NULL ? arn : "");
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    if (!region_ok(out)) {
        mk_err_set(err, MK_ERR_CONFIG, "roles anywhere: '%.200s': bad region", arn);
        return -1;
    }
    return 0;
}

void aws_ra_request_clear(struct aws_ra_request *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; r->headers != NULL && r->headers[i] != NULL; i++) {
        free(r->headers[i]);
    }
    free(r->headers);
    free(r->url);
    free(r->body);
    free(r->canonical_request);
    free(r->string_to_sign);
    memset(r, 0, sizeof(*r));
}

/* Base64 of a certificate's DER. */
static int cert_b64(X509 *cert, struct aws_buf *out, struct mk_err *err)
{
    int rc = -1;
    unsigned char *der = NULL;
    unsigned char *b64 = NULL;
    int len = i2d_X509(cert, &der);
    MK_GUARD_OSSL(len > 0, err, MK_ERR_CRYPTO, "roles anywhere: i2d_X509");
    b64 = malloc(4 * (((size_t)len + 2) / 3) + 1);
    MK_ENSURE(b64 != NULL, err, MK_ERR_NOMEM, "out of memory");
    EVP_EncodeBlock(b64, der, len);
    MK_GUARD(aws_buf_puts(out, (const char *)b64, err));
    rc = 0;
out:
    OPENSSL_free(der);
    free(b64);
    return rc;
}

/* The certificate's serial in decimal (the Credential's first field). */
static char *serial_dec(X509 *cert, struct mk_err *err)
{
    char *dec = NULL;
    char *copy = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    if (bn == NULL || (dec = BN_bn2dec(bn)) == NULL) {
        mk_err_ossl(err, MK_ERR_CRYPTO, "roles anywhere: certificate serial");
    } else if ((copy = strdup(dec)) == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
    }
    OPENSSL_free(dec);
    BN_free(bn);
    return copy;
}

/* "https://host[:port]" without a path: the base URL and the Host header value. */
static int endpoint_of(const struct aws_ra_params *p, const char *region, struct aws_buf *base,
                       char *host, size_t host_size, struct mk_err *err)
{
    int rc = -1;
    if (p->endpoint_url != NULL && p->endpoint_url[0] != '\0') {
        MK_GUARD(aws_buf_puts(base, p->endpoint_url, err));
        while (base->len > 0 && base->data[base->len - 1] == '/') {
            base->data[--base->len] = '\0';
        }
    } else {
        MK_GUARD(aws_buf_printf(base, err, "https://%s.%s.amazonaws.com", RA_SERVICE, region));
    }
    const char *h = strstr(base->data, "://");
    MK_ENSURE(h != NULL && strchr(h + 3, '/') == NULL && h[3] != '\0' && strlen(h + 3) < host_size,
              err, MK_ERR_CONFIG,
              "roles anywhere: endpoint_url '%.200s' must be scheme://host[:port] without a path",
              base->data);
    snprintf(host, host_size, "%s", h + 3);
    rc = 0;
out:
    return rc;
}

static int push_header(struct aws_ra_request *r, size_t *n, const char *name, const char *value,
                       struct mk_err *err)
{
    struct aws_buf b = {0};
    if (aws_buf_printf(&b, err, "%s: %s", name, value) != 0) {
        aws_buf_free(&b);
        return -1;
    }
    r->headers[(*n)++] = aws_buf_steal(&b);
    return 0;
}

int aws_ra_build_request(const struct aws_ra_params *p, const struct aws_ra_identity *id,
                         time_t when, struct aws_ra_request *out, struct mk_err *err)
{
    int rc = -1;
    struct aws_ra_request r = {0};
    struct aws_buf base = {0};
    struct aws_buf x509 = {0};
    struct aws_buf chain = {0};
    struct aws_buf creq = {0};
    struct aws_buf auth = {0};
    json_t *body = NULL;
    char *serial = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    char *sig_hex = NULL;
    char region[33];
    char host[256];
    char payload_hash[65];
    struct tm tm;
    size_t nh = 0;
    EVP_PKEY *pub = NULL;

    MK_ENSURE(p->trust_anchor_arn != NULL && p->profile_arn != NULL && p->role_arn != NULL, err,
              MK_ERR_CONFIG,
              "roles anywhere: trust_anchor_arn, profile_arn and role_arn are "
              "required");
    MK_ENSURE(id->leaf != NULL && id->sign != NULL, err, MK_ERR_INVALID,
              "roles anywhere: no certificate or signer");
    if (p->region != NULL && p->region[0] != '\0') {
        MK_ENSURE(region_ok(p->region), err, MK_ERR_CONFIG, "roles anywhere: bad region '%.40s'",
                  p->region);
        snprintf(region, sizeof(region), "%s", p->region);
    } else {
        MK_GUARD(aws_ra_region_from_arn(p->trust_anchor_arn, region, sizeof(region), err));
    }
    pub = X509_get0_pubkey(id->leaf);
    const char *alg = aws_ra_algorithm(pub, err);
    MK_GUARD_PTR(alg);
    MK_ENSURE(gmtime_r(&when, &tm) != NULL &&
                  strftime(r.amz_date, sizeof(r.amz_date), "%Y%m%dT%H%M%SZ", &tm) == 16,
              err, MK_ERR_INVALID, "roles anywhere: bad signing time");
    MK_GUARD(endpoint_of(p, region, &base, host, sizeof(host), err));
    MK_GUARD(aws_buf_puts(&base, "/sessions", err));
    body = json_pack("{s:s, s:s, s:s}", "profileArn", p->profile_arn, "roleArn", p->role_arn,
                     "trustAnchorArn", p->trust_anchor_arn);
    MK_ENSURE(body != NULL, err, MK_ERR_NOMEM, "out of memory");
    if (p->duration_seconds > 0) {
        MK_ENSURE(json_object_set_new(body, "durationSeconds", json_integer(p->duration_seconds)) ==
                      0,
                  err, MK_ERR_NOMEM, "out of memory");
    }
    if (p->session_name != NULL && p->session_name[0] != '\0') {
        MK_ENSURE(json_object_set_new(body, "roleSessionName", json_string(p->session_name)) == 0,
                  err, MK_ERR_NOMEM, "out of memory");
    }
    r.body = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    MK_ENSURE(r.body != NULL, err, MK_ERR_NOMEM, "out of memory");
    aws_sigv4_sha256_hex(r.body, strlen(r.body), payload_hash);

    MK_GUARD(cert_b64(id->leaf, &x509, err));
    for (int i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++) {
        if (i > 0) {
            MK_GUARD(aws_buf_puts(&chain, ",", err));
        }
        MK_GUARD(cert_b64(sk_X509_value(id->chain, i), &chain, err));
    }
    int has_chain = chain.len > 0;

    /* Headers sorted by lower-case name; the values hold no spaces to trim (base64, ISO dates). */
    MK_GUARD(aws_buf_printf(&creq, err,
                            "POST\n/sessions\n\ncontent-type:application/json\nhost:%s\n"
                            "x-amz-date:%s\nx-amz-x509:%s\n",
                            host, r.amz_date, x509.data));
    if (has_chain) {
        MK_GUARD(aws_buf_printf(&creq, err, "x-amz-x509-chain:%s\n", chain.data));
    }
    const char *signed_headers = has_chain
                                     ? "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain"
                                     : "content-type;host;x-amz-date;x-amz-x509";
    MK_GUARD(aws_buf_printf(&creq, err, "\n%s\n%s", signed_headers, payload_hash));
    aws_sigv4_sha256_hex(creq.data, creq.len, r.creq_hash);
    r.string_to_sign = aws_ra_string_to_sign(alg, r.amz_date, region, r.creq_hash, err);
    MK_GUARD_PTR(r.string_to_sign);

    MK_GUARD(id->sign(id->sign_arg, r.amz_date, region, r.creq_hash, &sig, &sig_len, err));
    sig_hex = malloc(2 * sig_len + 1);
    MK_ENSURE(sig_hex != NULL, err, MK_ERR_NOMEM, "out of memory");
    aws_hex_encode(sig, sig_len, sig_hex);
    serial = serial_dec(id->leaf, err);
    MK_GUARD_PTR(serial);
    MK_GUARD(aws_buf_printf(&auth, err,
                            "%s Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
                            "Signature=%s",
                            alg, serial, r.amz_date, region, RA_SERVICE, signed_headers, sig_hex));

    r.headers = calloc(8, sizeof(*r.headers));
    MK_ENSURE(r.headers != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_GUARD(push_header(&r, &nh, "Host", host, err));
    MK_GUARD(push_header(&r, &nh, "Content-Type", "application/json", err));
    MK_GUARD(push_header(&r, &nh, "X-Amz-Date", r.amz_date, err));
    MK_GUARD(push_header(&r, &nh, "X-Amz-X509", x509.data, err));
    if (has_chain) {
        MK_GUARD(push_header(&r, &nh, "X-Amz-X509-Chain", chain.data, err));
    }
    MK_GUARD(push_header(&r, &nh, "Authorization", auth.data, err));
    r.url = aws_buf_steal(&base);
    r.canonical_request = aws_buf_steal(&creq);
    *out = r;
    memset(&r, 0, sizeof(r));
    rc = 0;
out:
    aws_ra_request_clear(&r);
    json_decref(body);
    aws_buf_free(&base);
    aws_buf_free(&x509);
    aws_buf_free(&chain);
    aws_buf_free(&creq);
    aws_buf_free(&auth);
    free(serial);
    free(sig);
    free(sig_hex);
    return rc;
}

struct aws_creds *aws_ra_parse_answer(const char *body, size_t len, struct mk_err *err)
{
    struct aws_creds *c = NULL;
    time_t expiration = 0;
    json_t *j = json_loadb(body != NULL ? body : "", len, 0, NULL);
    /* The parser's message could quote the secret: say only what is wrong. */
    json_t *cr =
        json_object_get(json_array_get(json_object_get(j, "credentialSet"), 0), "credentials");
    const char *akid = json_string_value(json_object_get(cr, "accessKeyId"));
    const char *secret = json_string_value(json_object_get(cr, "secretAccessKey"));
    const char *token = json_string_value(json_object_get(cr, "sessionToken"));
    const char *exp = json_string_value(json_object_get(cr, "expiration"));
    MK_ENSURE(akid != NULL && secret != NULL && token != NULL && exp != NULL, err, MK_ERR_CREDS,
              "roles anywhere: CreateSession answer lacks credentialSet[0].credentials "
              "(accessKeyId, secretAccessKey, sessionToken, expiration)");
    MK_ENSURE(aws_parse_iso8601(exp, &expiration) == 0, err, MK_ERR_CREDS,
              "roles anywhere: CreateSession expiration '%.40s' is not ISO 8601", exp);
    c = aws_creds_make(akid, secret, token, expiration, "roles-anywhere", err);
out:
    if (json_is_object(cr)) {
        const char *k;
        json_t *v;
        json_object_foreach(cr, k, v)
        {
            if (json_is_string(v)) {
                OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
            }
        }
    }
    json_decref(j);
    return c;
}

int aws_ra_parse_http_date(const char *s, time_t *out)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char mon[4];
    struct tm tm = {0};
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (s == NULL || sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &tm.tm_mday, mon, &tm.tm_year,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        return -1;
    }
    tm.tm_mon = -1;
    for (int i = 0; i < 12; i++) {
        if (strcmp(mon, months[i]) == 0) {
            tm.tm_mon = i;
        }
    }
    if (tm.tm_mon < 0 || tm.tm_year < 1970) {
        return -1;
    }
    tm.tm_year -= 1900;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    *out = t;
    return 0;
}

static int contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p != '\0'; p++) {
        if (strncasecmp(p, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Rewrites a refused CreateSession into one line saying what most likely is wrong. */
static void explain_refusal(const struct aws_http_response *resp, const struct aws_ra_params *p,
                            const struct aws_ra_identity *id, time_t sent, struct mk_err *err)
{
    struct mk_err e = {0};
    time_t server;
    const char *name = id->name != NULL ? id->name : "the certificate";
    aws_decode_error(resp, "roles anywhere CreateSession", &e);
    if (resp->date[0] != '\0' && aws_ra_parse_http_date(resp->date, &server) == 0) {
        long skew = (long)(sent - server);
        if (skew > AWS_RA_SKEW_LIMIT_S || skew < -AWS_RA_SKEW_LIMIT_S) {
            mk_err_set(err, MK_ERR_AWS,
                       "roles anywhere: this host's clock is %ld s %s the service's (Date: %s); "
                       "signatures more than %d s off are refused: fix the time (NTP); %s",
                       skew < 0 ? -skew : skew, skew > 0 ? "ahead of" : "behind", resp->date,
                       AWS_RA_SKEW_LIMIT_S, e.msg);
            goto out;
        }
    }
    if (resp->status == 403 && (contains(e.msg, "certificate") || contains(e.msg, "trust") ||
                                contains(e.msg, "expired"))) {
        mk_err_set(err, MK_ERR_AWS,
                   "roles anywhere: certificate %s is not trusted by trust anchor %s or has "
                   "expired (the anchor must be the Private CA that issued it, and the chain "
                   "complete): %s",
                   name, p->trust_anchor_arn, e.msg);
    } else if ((strcmp(e.ext_code, "AccessDeniedException") == 0 || resp->status == 403) &&
               contains(e.msg, "profile")) {
        mk_err_set(err, MK_ERR_AWS,
                   "roles anywhere: access denied by profile %s: it must be enabled and list "
                   "role %s: %s",
                   p->profile_arn, p->role_arn, e.msg);
    } else if (strcmp(e.ext_code, "AccessDeniedException") == 0 || resp->status == 403) {
        mk_err_set(err, MK_ERR_AWS,
                   "roles anywhere: access denied to role %s: its trust policy must let "
                   "rolesanywhere.amazonaws.com sts:AssumeRole, sts:TagSession and "
                   "sts:SetSourceIdentity for this certificate's subject (profile %s): %s",
                   p->role_arn, p->profile_arn, e.msg);
    } else {
        *err = e;
        return;
    }
out:
    snprintf(err->ext_code, sizeof(err->ext_code), "%s", e.ext_code);
    err->http_status = e.http_status;
}

struct aws_creds *aws_ra_create_session(struct aws_http *http, const struct aws_ra_params *p,
                                        const struct aws_ra_identity *id, struct mk_err *err)
{
    struct aws_creds *c = NULL;
    struct aws_ra_request r = {0};
    struct aws_http_response resp = {0};
    time_t now = time(NULL);
    const ASN1_TIME *na = id->leaf != NULL ? X509_get0_notAfter(id->leaf) : NULL;
    MK_ENSURE(na == NULL || X509_cmp_time(na, &now) > 0, err, MK_ERR_CONFIG,
              "roles anywhere: certificate %s has expired: it cannot sign CreateSession; "
              "bootstrap with other AWS credentials",
              id->name != NULL ? id->name : "");
    MK_GUARD(aws_ra_build_request(p, id, now, &r, err));
    long timeout = p->timeout_ms > 0 ? p->timeout_ms : RA_TIMEOUT_MS;
    struct aws_http_request req = {
        .method = "POST",
        .url = r.url,
        .headers = (const char *const *)r.headers,
        .body = r.body,
        .body_len = strlen(r.body),
        .connect_timeout_ms = RA_CONNECT_MS < timeout ? RA_CONNECT_MS : timeout,
        .timeout_ms = timeout,
        .ca_bundle = p->ca_bundle,
    };
    if (aws_http_perform(http, &req, &resp, err) != 0) {
        mk_err_prefix(err, "roles anywhere CreateSession");
        goto out;
    }
    if (resp.status < 200 || resp.status >= 300) {
        explain_refusal(&resp, p, id, now, err);
        goto out;
    }
    c = aws_ra_parse_answer(resp.body.data, resp.body.len, err);
out:
    aws_http_response_clear(&resp);
    aws_ra_request_clear(&r);
    return c;
}

/* ---- the credentials source ---- */

struct aws_ra_source {
    struct aws_client *client;
    struct aws_ra_source_config cfg; /* strings below are owned copies */
    char *strs[8];
};

static int source_get(void *arg, struct aws_creds **out, struct mk_err *err)
{
    struct aws_ra_source *s = arg;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    struct mk_err e = {0};
    time_t now = time(NULL);
    int rc = s->cfg.current(s->cfg.arg, s->cfg.name, &leaf, &chain, &e);
    if (rc == 1 && X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0) {
        mk_err_set(&e, MK_ERR_STATE, "its certificate has expired");
        rc = 0;
    } else if (rc == 0 && e.msg[0] == '\0') {
        mk_err_set(&e, MK_ERR_STATE, "it has no certificate yet");
    }
    if (rc == 0) {
        /* Not a failure: the chain signs until the certificate exists (bootstrap). */
        mk_err_set(err, MK_ERR_CREDS,
                   "roles anywhere cannot sign for certificate %s: %s; to bootstrap, give the "
                   "agent one-time AWS credentials (environment or profile) or run "
                   "`mskpkictl cert issue --config FILE --name %s` with them",
                   s->cfg.name, e.msg, s->cfg.name);
        goto out;
    }
    if (rc < 0) {
        *err = e;
        mk_err_prefix(err, "roles anywhere: certificate %s", s->cfg.name);
        goto out;
    }
    struct aws_ra_identity id = {leaf, chain, s->cfg.sign, s->cfg.arg, s->cfg.name};
    struct aws_ra_params p = s->cfg.params;
    p.ca_bundle = p.ca_bundle != NULL ? p.ca_bundle : aws_client_ca_bundle(s->client);
    *out = aws_ra_create_session(aws_client_http(s->client), &p, &id, err);
    if (*out == NULL) {
        rc = -1;
        char msg[sizeof(err->msg)];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        snprintf(err->msg, sizeof(err->msg),
                 "%.560s (certificate %.40s; if it cannot be fixed before the certificate expires, "
                 "renewal needs a new bootstrap with one-time AWS credentials)",
                 msg, s->cfg.name);
    }
out:
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

struct aws_ra_source *aws_ra_source_new(struct aws_client *client,
                                        const struct aws_ra_source_config *cfg, struct mk_err *err)
{
    struct aws_ra_source *s = calloc(1, sizeof(*s));
    MK_ENSURE(s != NULL, err, MK_ERR_NOMEM, "out of memory");
    MK_ENSURE(cfg->current != NULL && cfg->sign != NULL && cfg->name != NULL, err, MK_ERR_INVALID,
              "roles anywhere: no certificate source");
    s->client = client;
    s->cfg = *cfg;
    const char **fields[] = {&s->cfg.params.trust_anchor_arn, &s->cfg.params.profile_arn,
                             &s->cfg.params.role_arn,         &s->cfg.params.session_name,
                             &s->cfg.params.region,           &s->cfg.params.endpoint_url,
                             &s->cfg.params.ca_bundle,        &s->cfg.name};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (*fields[i] != NULL) {
            s->strs[i] = strdup(*fields[i]);
            MK_ENSURE(s->strs[i] != NULL, err, MK_ERR_NOMEM, "out of memory");
            *fields[i] = s->strs[i];
        }
    }
    aws_client_set_credentials_source(client, source_get, s);
    return s;
out:
    aws_ra_source_free(s);
    return NULL;
}

void aws_ra_source_free(struct aws_ra_source *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < sizeof(s->strs) / sizeof(s->strs[0]); i++) {
        free(s->strs[i]);
    }
    free(s);
}
