/*
 * files.h: temp directories and whole-file helpers shared by the unit tests.
 *
 * Plain C (no cmocka): each returns 0/-1 or a pointer/NULL and leaves asserting to the test.
 * Temp directories always live under /tmp and are made with mkdtemp.
 */
#ifndef MK_TEST_FILES_H
#define MK_TEST_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* mkdtemp of "/tmp/mskpki-<tag>-XXXXXX" into out (cap bytes).  Returns 0 or -1. */
int mk_test_tmpdir(char *out, size_t cap, const char *tag);

/* rm -r of dir without following symlinks.  Refuses (returns -1) anything not below /tmp/; NULL
 * or "" is a no-op that returns 0.  Returns 0 when everything was removed. */
int mk_test_rmtree(const char *dir);

/* The whole file, NUL-terminated; *len (may be NULL) gets its length.  NULL when unreadable or
 * out of memory.  Caller frees with free(). */
char *mk_test_read_file(const char *path, size_t *len);

/* Creates or truncates path with mode (also applied to an existing file) and writes len bytes of
 * data.  Returns 0 or -1. */
int mk_test_write_file(const char *path, const void *data, size_t len, mode_t mode);

#endif
