/* kafka_principal.c: a certificate subject as the Kafka principal it authenticates as, and the
 * ACL that denies it (see kafka_principal.h for the rules and their sources). */
#include "ctl/kafka_principal.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "ctl/output.h"

/* Appends to a bounded buffer; on overflow it remembers the failure and stops writing. */
struct sbuf {
    char *buf;
    size_t cap;
    size_t len;
    int overflow;
};

static void sb_putc(struct sbuf *b, char c)
{
    if (b->overflow || b->len + 1 >= b->cap) {
        b->overflow = 1;
        return;
    }
    b->buf[b->len++] = c;
    b->buf[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        sb_putc(b, *s);
    }
}

static void sb_hex(struct sbuf *b, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        sb_putc(b, digits[p[i] >> 4]);
        sb_putc(b, digits[p[i] & 0x0f]);
    }
}

/* The JDK's RFC 2253 keywords (AVAKeyword entries marked RFC 2253 compliant); NULL = none. */
static const char *rfc2253_keyword(int nid)
{
    switch (nid) {
    case NID_commonName:
        return "CN";
    case NID_countryName:
        return "C";
    case NID_localityName:
        return "L";
    case NID_stateOrProvinceName:
        return "ST";
    case NID_organizationName:
        return "O";
    case NID_organizationalUnitName:
        return "OU";
    case NID_streetAddress:
        return "STREET";
    case NID_domainComponent:
        return "DC";
    case NID_userId:
        return "UID";
    default:
        return NULL;
    }
}

/* The JDK writes these DER string types as text (AVA.isDerString, non-canonical). */
static int is_text_type(int type)
{
    switch (type) {
    case V_ASN1_UTF8STRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_GENERALSTRING:
    case V_ASN1_BMPSTRING:
        return 1;
    default:
        return 0;
    }
}

static int put_hex_value(struct sbuf *b, const ASN1_STRING *value, struct mk_err *err)
{
    int rc = -1;
    unsigned char *der = NULL;
    ASN1_TYPE *t = ASN1_TYPE_new();
    CTL_GUARD_OSSL(t != NULL && ASN1_TYPE_set1(t, ASN1_STRING_type(value), value) == 1, err,
                  MK_ERR_NOMEM, "ASN1_TYPE_set1");
    int n = i2d_ASN1_TYPE(t, &der);
    CTL_GUARD_OSSL(n > 0, err, MK_ERR_INVALID, "i2d_ASN1_TYPE");
    sb_putc(b, '#');
    sb_hex(b, der, (size_t)n);
    rc = 0;
out:
    OPENSSL_free(der);
    ASN1_TYPE_free(t);
    return rc;
}

static int put_text_value(struct sbuf *b, const ASN1_STRING *value, struct mk_err *err)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, value);
    if (n < 0) {
        ctl_err_ossl(err, MK_ERR_INVALID, "ASN1_STRING_to_UTF8");
        return -1;
    }
    size_t lead = 0, trail = (size_t)n;
    while (lead < (size_t)n && (utf8[lead] == ' ' || utf8[lead] == '\r')) {
        lead++;
    }
    while (trail > lead && (utf8[trail - 1] == ' ' || utf8[trail - 1] == '\r')) {
        trail--;
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        unsigned char c = utf8[i];
        if (c == '\0') {
            sb_puts(b, "\\00");
            continue;
        }
        if (strchr(",=+<>#;\"\\", c) != NULL || i < lead || i >= trail) {
            sb_putc(b, '\\');
        }
        sb_putc(b, (char)c);
    }
    OPENSSL_free(utf8);
    return 0;
}

int kafka_principal_from_name(const X509_NAME *name, char *buf, size_t cap, struct mk_err *err)
{
    int rc = -1;
    struct sbuf b = {.buf = buf, .cap = cap};
    MK_ENSURE(cap > 0, err, MK_ERR_NOMEM, "principal: no room");
    buf[0] = '\0';
    sb_puts(&b, "User:");
    int count = X509_NAME_entry_count(name);
    int prev_set = -1;
    /* Last RDN first; entries of one RDN share a set number and keep their encoded order. */
    for (int i = count - 1; i >= 0;) {
        int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, i));
        int first = i;
        while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set) {
            first--;
        }
        if (prev_set >= 0) {
            sb_putc(&b, ',');
        }
        for (int k = first; k <= i; k++) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, k);
            const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
            const ASN1_STRING *value = X509_NAME_ENTRY_get_data(e);
            const char *kw = rfc2253_keyword(OBJ_obj2nid(obj));
            if (k > first) {
                sb_putc(&b, '+');
            }
            if (kw != NULL) {
                sb_puts(&b, kw);
            } else {
                char oid[128];
                CTL_GUARD_OSSL(OBJ_obj2txt(oid, sizeof(oid), obj, 1) > 0, err, MK_ERR_INVALID,
                              "OBJ_obj2txt");
                sb_puts(&b, oid);
            }
            sb_putc(&b, '=');
            if (kw != NULL && is_text_type(ASN1_STRING_type(value))) {
                MK_GUARD(put_text_value(&b, value, err));
            } else {
                MK_GUARD(put_hex_value(&b, value, err));
            }
        }
        prev_set = set;
        i = first - 1;
    }
    MK_ENSURE(!b.overflow, err, MK_ERR_NOMEM, "principal longer than %zu bytes", cap - 1);
    rc = 0;
out:
    if (rc != 0 && cap > 0) {
        buf[0] = '\0';
    }
    return rc;
}

int kafka_acl_deny_command(const char *principal, const char *bootstrap, char *buf, size_t cap,
                           struct mk_err *err)
{
    struct sbuf b = {.buf = buf, .cap = cap};
    if (cap == 0) {
        mk_err_set(err, MK_ERR_NOMEM, "kafka-acls command: no room");
        return -1;
    }
    buf[0] = '\0';
    sb_puts(&b, "kafka-acls --bootstrap-server ");
    sb_puts(&b, bootstrap);
    sb_puts(&b, " --command-config admin.properties --add --deny-principal '");
    /* POSIX shell: inside single quotes only the quote itself needs care. */
    for (const char *p = principal; *p != '\0'; p++) {
        if (*p == '\'') {
            sb_puts(&b, "'\\''");
        } else {
            sb_putc(&b, *p);
        }
    }
    sb_puts(&b, "' --operation All --topic '*' --group '*' --cluster");
    if (b.overflow) {
        buf[0] = '\0';
        mk_err_set(err, MK_ERR_NOMEM, "kafka-acls command longer than %zu bytes", cap - 1);
        return -1;
    }
    return 0;
}
