/*
 * profile.h: the shared AWS config and credentials files (~/.aws/config, ~/.aws/credentials).
 *
 * INI-style: "[name]" sections ("[profile name]" in the config file, except "[default]"),
 * "key = value" lines, '#' and ';' comment lines, indented continuation lines (sub-properties,
 * which we keep but do not use).  A malformed line fails the load with "file:line: reason".
 * Values are wiped on free (aws_secret_access_key lives here until copied into a pki_secret).
 */
#ifndef AWS_PROFILE_H
#define AWS_PROFILE_H

#include "pki/err.h"

struct aws_profile_file;

/*
 * Parses path.  is_config selects the config file's "[profile name]" syntax.  A missing file is
 * not an error: the result is then empty.  Caller frees with aws_profile_file_free().
 */
struct aws_profile_file *aws_profile_file_load(const char *path, int is_config,
                                               struct mk_err *err) MK_MUST_CHECK;
/* Parses text (tests and fuzzing); name is used in error messages. */
struct aws_profile_file *aws_profile_file_parse(const char *text, const char *name, int is_config,
                                                struct mk_err *err) MK_MUST_CHECK;
void aws_profile_file_free(struct aws_profile_file *f);

/* Whether a profile section exists (possibly empty). */
int aws_profile_has(const struct aws_profile_file *f, const char *profile);
/* A property's value, or NULL.  Borrowed, valid until the file is freed.  f may be NULL. */
const char *aws_profile_get(const struct aws_profile_file *f, const char *profile, const char *key);

/*
 * Both files as the SDKs resolve them: AWS_CONFIG_FILE (default ~/.aws/config) and
 * AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials); a property in the credentials file
 * wins over the same one in the config file.
 */
struct aws_profiles {
    struct aws_profile_file *config;
    struct aws_profile_file *credentials;
};
/* Loads both files into ps (clear with aws_profiles_clear()). */
int aws_profiles_load(struct aws_profiles *ps, struct mk_err *err) MK_MUST_CHECK;
void aws_profiles_clear(struct aws_profiles *ps);
const char *aws_profiles_get(const struct aws_profiles *ps, const char *profile, const char *key);
int aws_profiles_has(const struct aws_profiles *ps, const char *profile);

/* The profile name in force: explicit (may be NULL), then AWS_PROFILE, then "default". */
const char *aws_profile_name(const char *explicit_name);

#endif
