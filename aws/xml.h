/*
 * xml.h: libxml2 helpers for the Query protocol's XML answers (STS, error bodies).
 *
 * Parsing never touches the network, never expands external entities and prints nothing
 * (answers hold credentials).  Paths are element local names joined by '/'
 * ("AssumeRoleResult/Credentials/SessionToken"), matched at any depth for the first name and
 * as direct children after that; namespaces are ignored.
 */
#ifndef AWS_XML_H
#define AWS_XML_H

#include <stddef.h>

#include "pki/err.h"

struct aws_xml;

/* Parses text.  MK_ERR_INVALID when it is not well-formed XML.  Caller frees with aws_xml_free().
 */
struct aws_xml *aws_xml_parse(const char *text, size_t len, struct mk_err *err) MK_MUST_CHECK;
/* Frees the document; the library's copy of its text is wiped first.  NULL ok. */
void aws_xml_free(struct aws_xml *x);

/*
 * The text of the first element at path, or NULL with MK_ERR_NOTFOUND naming the path.
 * Caller frees with free(), or aws_str_wipe_free() (aws/buf.h) for secrets.
 */
char *aws_xml_get(const struct aws_xml *x, const char *path, struct mk_err *err) MK_MUST_CHECK;

/* One-shot: parse text and get path.  Caller frees with free() / aws_str_wipe_free(). */
char *aws_xml_text(const char *text, size_t len, const char *path,
                   struct mk_err *err) MK_MUST_CHECK;

#endif
