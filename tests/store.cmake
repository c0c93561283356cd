# Key store and output formats (pki/store.c, pki/format.c).  Both tests drive the real openssl and
# keytool CLIs against the files written.
mk_unit_test(test_format SOURCES test_format.c store_fixture.c LIBS mskpki_ca mskpki_testsupport)
mk_unit_test(test_store SOURCES test_store.c store_fixture.c LIBS mskpki_ca mskpki_testsupport)
# Issue 17: the state directory's writer lock (issue/lock.h).
mk_unit_test(test_issue_lock SOURCES test_issue_lock.c LIBS mskpki_issue)
