/*
 * sigv4.c: the SigV4 signer (see sigv4.h and
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
 */
#include "aws/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "aws/buf.h"

/* One canonical header or query pair, before sorting. */
struct sv_pair {
    char *name;
    char *value;
    size_t order; /* input position: keeps duplicate headers in their given order */
};

void aws_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void aws_sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    static const unsigned char empty = 0;
    SHA256(data != NULL ? data : &empty, len, md);
    aws_hex_encode(md, sizeof(md), hex);
}

static void pairs_free(struct sv_pair *pairs, size_t n)
{
    if (pairs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        aws_str_wipe_free(pairs[i].name);
        aws_str_wipe_free(pairs[i].value);
    }
    free(pairs);
}

static int pair_cmp(const void *a, const void *b)
{
    const struct sv_pair *x = a;
    const struct sv_pair *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

/* Query pairs sort by encoded name, then encoded value. */
static int query_cmp(const void *a, const void *b)
{
    const struct sv_pair *x = a;
    const struct sv_pair *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Percent-decodes s[0..len) into a new string; a malformed %-sequence is kept literally. */
static char *pct_decode(const char *s, size_t len, struct mk_err *err)
{
    char *out = malloc(len + 1);
    if (out == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi;
        int lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Encodes s fully (no '/' kept) into a new string. */
static char *encode_dup(const char *s, size_t len, struct mk_err *err)
{
    struct aws_buf b = {0};
    if (aws_buf_uri_encode(&b, s, len, 0, err) != 0 || aws_buf_append(&b, "", 0, err) != 0) {
        aws_buf_free(&b);
        return NULL;
    }
    return aws_buf_steal(&b);
}

/* The canonical query string: each pair decoded then encoded again, sorted. */
static int canonical_query(const char *query, struct aws_buf *out, struct mk_err *err)
{
    int rc = -1;
    struct sv_pair *pairs = NULL;
    size_t n = 0;
    char *dec = NULL;
    if (query == NULL || query[0] == '\0') {
        return 0;
    }
    size_t max = 1;
    for (const char *q = query; *q != '\0'; q++) {
        max += (*q == '&');
    }
    pairs = calloc(max, sizeof(*pairs));
    MK_ENSURE(pairs != NULL, err, MK_ERR_NOMEM, "out of memory");
    const char *p = query;
    while (*p != '\0') {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
            const char *val = eq != NULL ? eq + 1 : p + len;
            size_t vlen = eq != NULL ? len - nlen - 1 : 0;
            dec = pct_decode(p, nlen, err);
            MK_GUARD_PTR(dec);
            pairs[n].name = encode_dup(dec, strlen(dec), err);
            aws_str_wipe_free(dec);
            dec = NULL;
            MK_GUARD_PTR(pairs[n].name);
            dec = pct_decode(val, vlen, err);
            MK_GUARD_PTR(dec);
            pairs[n].value = encode_dup(dec, strlen(dec), err);
            aws_str_wipe_free(dec);
            dec = NULL;
            n++;
            MK_GUARD_PTR(pairs[n - 1].value);
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    qsort(pairs, n, sizeof(*pairs), query_cmp);
    for (size_t i = 0; i < n; i++) {
        MK_GUARD(
            aws_buf_printf(out, err, "%s%s=%s", i > 0 ? "&" : "", pairs[i].name, pairs[i].value));
    }
    rc = 0;
out:
    aws_str_wipe_free(dec);
    pairs_free(pairs, n);
    return rc;
}

/*
 * Removes empty and "." segments and resolves ".." (RFC 3986 5.2.4 as the SDKs apply it); keeps
 * a trailing slash.  Returns a new string.
 */
static char *normalize_path(const char *path, struct mk_err *err)
{
    size_t len = strlen(path);
    char *out = malloc(len + 2);
    if (out == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t o = 0;
    const char *p = path;
    while (*p != '\0') {
        while (*p == '/') {
            p++;
        }
        size_t seg = strcspn(p, "/");
        if (seg == 0) {
            break;
        }
        if (seg == 1 && p[0] == '.') {
            /* nothing */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/') {
                o--;
            }
            if (o > 0) {
                o--; /* the slash before the removed segment */
            }
        } else {
            out[o++] = '/';
            memcpy(out + o, p, seg);
            o += seg;
        }
        p += seg;
    }
    if (o == 0 || (len > 0 && path[len - 1] == '/')) {
        out[o++] = '/';
    }
    out[o] = '\0';
    return out;
}

/* Lower-cases the name; trims the value and collapses runs of whitespace (RFC 7230 obs-fold). */
static int canon_header(const struct aws_sigv4_header *h, size_t order, struct sv_pair *out,
                        struct mk_err *err)
{
    size_t nlen = strlen(h->name);
    out->order = order;
    out->name = malloc(nlen + 1);
    out->value = malloc(strlen(h->value) + 1);
    if (out->name == NULL || out->value == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i <= nlen; i++) {
        out->name[i] = (char)tolower((unsigned char)h->name[i]);
    }
    size_t o = 0;
    int space = 0;
    for (const char *v = h->value; *v != '\0'; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = 1;
            continue;
        }
        if (space && o > 0) {
            out->value[o++] = ' ';
        }
        space = 0;
        out->value[o++] = *v;
    }
    out->value[o] = '\0';
    return 0;
}

/* Appends "name:value\n" lines (duplicates joined by ',') and fills the signed-header list. */
static int canonical_headers(struct sv_pair *hs, size_t n, struct aws_buf *creq,
                             struct aws_buf *signed_names, struct mk_err *err)
{
    qsort(hs, n, sizeof(*hs), pair_cmp);
    for (size_t i = 0; i < n; i++) {
        int dup = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        if (dup) {
            MK_GUARD(aws_buf_printf(creq, err, ",%s", hs[i].value));
            continue;
        }
        if (i > 0) {
            MK_GUARD(aws_buf_puts(creq, "\n", err));
            MK_GUARD(aws_buf_puts(signed_names, ";", err));
        }
        MK_GUARD(aws_buf_printf(creq, err, "%s:%s", hs[i].name, hs[i].value));
        MK_GUARD(aws_buf_puts(signed_names, hs[i].name, err));
    }
    MK_GUARD(aws_buf_puts(creq, "\n", err));
    return 0;
out:
    return -1;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32],
                struct mk_err *err)
{
    unsigned int olen = 32;
    if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen) ==
        NULL) {
        mk_err_ossl(err, MK_ERR_CRYPTO, "HMAC-SHA256");
        return -1;
    }
    return 0;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
static int signing_key(const struct aws_sigv4_params *p, const char *date, unsigned char key[32],
                       struct mk_err *err)
{
    int rc = -1;
    char k0[4 + 256];
    unsigned char k1[32];
    size_t slen = strlen(p->secret_access_key);
    MK_ENSURE(slen <= 256, err, MK_ERR_CREDS, "AWS secret access key too long");
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, p->secret_access_key, slen);
    MK_GUARD(hmac(k0, 4 + slen, date, k1, err));
    MK_GUARD(hmac(k1, 32, p->region, key, err));
    MK_GUARD(hmac(key, 32, p->service, k1, err));
    MK_GUARD(hmac(k1, 32, "aws4_request", key, err));
    rc = 0;
out:
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k1, sizeof(k1));
    return rc;
}

static int check_params(const struct aws_sigv4_request *req, const struct aws_sigv4_params *p,
                        struct mk_err *err)
{
    if (req->method == NULL || p->access_key_id == NULL || p->secret_access_key == NULL ||
        p->region == NULL || p->service == NULL || (req->n_headers > 0 && req->headers == NULL)) {
        mk_err_set(err, MK_ERR_INVALID, "sigv4: missing method, credentials, region or service");
        return -1;
    }
    return 0;
}

/* Headers of the request plus the x-amz-* ones the signer adds; new array in *out. */
static int collect_headers(const struct aws_sigv4_request *req, const struct aws_sigv4_params *p,
                           const struct aws_sigv4_result *r, struct sv_pair **out, size_t *n_out,
                           struct mk_err *err)
{
    struct aws_sigv4_header extra[3];
    size_t n_extra = 0;
    extra[n_extra++] = (struct aws_sigv4_header){"x-amz-date", r->amz_date};
    if (p->session_token != NULL && !p->omit_session_token) {
        extra[n_extra++] = (struct aws_sigv4_header){"x-amz-security-token", p->session_token};
    }
    if (p->sign_body) {
        extra[n_extra++] = (struct aws_sigv4_header){"x-amz-content-sha256", r->payload_hash};
    }
    size_t n = req->n_headers + n_extra;
    struct sv_pair *hs = calloc(n, sizeof(*hs));
    if (hs == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct aws_sigv4_header *h =
            i < req->n_headers ? &req->headers[i] : &extra[i - req->n_headers];
        if (h->name == NULL || h->value == NULL || canon_header(h, i, &hs[i], err) != 0) {
            mk_err_set(err, MK_ERR_INVALID, "sigv4: bad header %zu", i);
            pairs_free(hs, n);
            return -1;
        }
    }
    *out = hs;
    *n_out = n;
    return 0;
}

int aws_sigv4_sign(const struct aws_sigv4_request *req, const struct aws_sigv4_params *p,
                   struct aws_sigv4_result *out, struct mk_err *err)
{
    int rc = -1;
    struct aws_sigv4_result r = {0};
    struct aws_buf creq = {0};
    struct aws_buf names = {0};
    struct aws_buf sts = {0};
    struct aws_buf auth = {0};
    struct sv_pair *hs = NULL;
    size_t n_hs = 0;
    char *npath = NULL;
    unsigned char key[32];
    unsigned char sig[32];
    char date[9];
    char creq_hash[65];
    struct tm tm;

    MK_GUARD(check_params(req, p, err));
    MK_ENSURE(gmtime_r(&p->when, &tm) != NULL &&
                  strftime(r.amz_date, sizeof(r.amz_date), "%Y%m%dT%H%M%SZ", &tm) == 16,
              err, MK_ERR_INVALID, "sigv4: bad signing time");
    memcpy(date, r.amz_date, 8);
    date[8] = '\0';
    aws_sigv4_sha256_hex(req->body, req->body_len, r.payload_hash);

    /* Method, then the path: normalised, then encoded once more for non-S3 services. */
    MK_GUARD(aws_buf_printf(&creq, err, "%s\n", req->method));
    const char *path = (req->path == NULL || req->path[0] == '\0') ? "/" : req->path;
    if (p->normalize_path) {
        npath = normalize_path(path, err);
        MK_GUARD_PTR(npath);
        path = npath;
    }
    if (p->double_encode) {
        MK_GUARD(aws_buf_uri_encode(&creq, path, strlen(path), 1, err));
    } else {
        MK_GUARD(aws_buf_puts(&creq, path, err));
    }
    MK_GUARD(aws_buf_puts(&creq, "\n", err));
    MK_GUARD(canonical_query(req->query, &creq, err));
    MK_GUARD(aws_buf_puts(&creq, "\n", err));
    MK_GUARD(collect_headers(req, p, &r, &hs, &n_hs, err));
    MK_GUARD(canonical_headers(hs, n_hs, &creq, &names, err));
    MK_GUARD(aws_buf_printf(&creq, err, "\n%s\n%s", names.data, r.payload_hash));

    aws_sigv4_sha256_hex(creq.data, creq.len, creq_hash);
    MK_GUARD(aws_buf_printf(&sts, err, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                            r.amz_date, date, p->region, p->service, creq_hash));
    MK_GUARD(signing_key(p, date, key, err));
    MK_GUARD(hmac(key, sizeof(key), sts.data, sig, err));
    aws_hex_encode(sig, sizeof(sig), r.signature);
    MK_GUARD(aws_buf_printf(&auth, err,
                            "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                            "SignedHeaders=%s, Signature=%s",
                            p->access_key_id, date, p->region, p->service, names.data,
                            r.signature));
    r.canonical_request = aws_buf_steal(&creq);
    r.string_to_sign = aws_buf_steal(&sts);
    r.signed_headers = aws_buf_steal(&names);
    r.authorization = aws_buf_steal(&auth);
    *out = r;
    memset(&r, 0, sizeof(r));
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof(key));
    aws_sigv4_result_clear(&r);
    pairs_free(hs, n_hs);
    free(npath);
    aws_buf_free(&creq);
    aws_buf_free(&names);
    aws_buf_free(&sts);
    aws_buf_free(&auth);
    return rc;
}

void aws_sigv4_result_clear(struct aws_sigv4_result *r)
{
    if (r == NULL) {
        return;
    }
    aws_str_wipe_free(r->canonical_request);
    aws_str_wipe_free(r->string_to_sign);
    aws_str_wipe_free(r->signed_headers);
    aws_str_wipe_free(r->authorization);
    memset(r, 0, sizeof(*r));
}
