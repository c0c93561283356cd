/* xml.c: libxml2 helpers; see xml.h. */
#include "aws/xml.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "aws/buf.h"

struct aws_xml {
    xmlDocPtr doc;
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 reports some faults (input encoding errors) through its generic error channel even
 * with XML_PARSE_NOERROR, to stderr by default: a line outside the agent's key=value log that
 * could quote the answer.  The caller gets our own one-line error instead. */
static void xml_quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void xml_quiet_structured(void *ctx, xmlErrorPtr error)
{
    (void)ctx;
    (void)error;
}

static void xml_init(void)
{
    xmlInitParser();
    /* The defaults that threads started later take... */
    xmlThrDefSetGenericErrorFunc(NULL, xml_quiet);
    xmlThrDefSetStructuredErrorFunc(NULL, xml_quiet_structured);
}

static void xml_quiet_this_thread(void)
{
    /* ...and this thread's own copy, which libxml2 2.9 keeps per thread. */
    xmlSetGenericErrorFunc(NULL, xml_quiet);
    xmlSetStructuredErrorFunc(NULL, xml_quiet_structured);
}

struct aws_xml *aws_xml_parse(const char *text, size_t len, struct mk_err *err)
{
    pthread_once(&xml_once, xml_init);
    xml_quiet_this_thread();
    if (text == NULL || len == 0 || len > INT_MAX) {
        mk_err_set(err, MK_ERR_INVALID, "empty or oversized XML answer");
        return NULL;
    }
    struct aws_xml *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* No NOENT (no entity expansion), NONET (no fetches), quiet (answers hold secrets). */
    x->doc = xmlReadMemory(text, (int)len, "answer.xml", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (x->doc == NULL || xmlDocGetRootElement(x->doc) == NULL) {
        mk_err_set(err, MK_ERR_INVALID, "answer is not well-formed XML");
        aws_xml_free(x);
        return NULL;
    }
    return x;
}

/* Wipes the text of every node before the document goes: STS answers hold credentials. */
static void wipe_nodes(xmlNodePtr n)
{
    for (; n != NULL; n = n->next) {
        if (n->content != NULL) {
            memset(n->content, 0, xmlStrlen(n->content));
        }
        wipe_nodes(n->children);
    }
}

void aws_xml_free(struct aws_xml *x)
{
    if (x == NULL) {
        return;
    }
    if (x->doc != NULL) {
        wipe_nodes(xmlDocGetRootElement(x->doc));
        xmlFreeDoc(x->doc);
    }
    free(x);
}

static int name_is(xmlNodePtr n, const char *name, size_t len)
{
    return n->type == XML_ELEMENT_NODE && xmlStrlen(n->name) == (int)len &&
           memcmp(n->name, name, len) == 0;
}

/* Follows the rest of path ("a/b") through direct children of n. */
static xmlNodePtr follow(xmlNodePtr n, const char *path)
{
    while (*path != '\0') {
        size_t len = strcspn(path, "/");
        xmlNodePtr c = n->children;
        while (c != NULL && !name_is(c, path, len)) {
            c = c->next;
        }
        if (c == NULL) {
            return NULL;
        }
        n = c;
        path += len;
        if (*path == '/') {
            path++;
        }
    }
    return n;
}

/* Depth-first search for the first element named like path's first part that has the rest. */
static xmlNodePtr find(xmlNodePtr n, const char *path)
{
    size_t len = strcspn(path, "/");
    const char *rest = path[len] == '/' ? path + len + 1 : path + len;
    for (; n != NULL; n = n->next) {
        if (name_is(n, path, len)) {
            xmlNodePtr hit = follow(n, rest);
            if (hit != NULL) {
                return hit;
            }
        }
        xmlNodePtr hit = find(n->children, path);
        if (hit != NULL) {
            return hit;
        }
    }
    return NULL;
}

char *aws_xml_get(const struct aws_xml *x, const char *path, struct mk_err *err)
{
    xmlNodePtr n = find(xmlDocGetRootElement(x->doc), path);
    if (n == NULL) {
        mk_err_set(err, MK_ERR_NOTFOUND, "XML answer has no %s element", path);
        return NULL;
    }
    xmlChar *t = xmlNodeGetContent(n);
    if (t == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char *out = strdup((const char *)t);
    memset(t, 0, xmlStrlen(t));
    xmlFree(t);
    if (out == NULL) {
        mk_err_set(err, MK_ERR_NOMEM, "out of memory");
    }
    return out;
}

char *aws_xml_text(const char *text, size_t len, const char *path, struct mk_err *err)
{
    struct aws_xml *x = aws_xml_parse(text, len, err);
    if (x == NULL) {
        return NULL;
    }
    char *out = aws_xml_get(x, path, err);
    aws_xml_free(x);
    return out;
}
