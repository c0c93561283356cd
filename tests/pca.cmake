# aws-pca CA backend: cmocka tests against moto and tests/pca/fake_pca.py (both started by the test
# on loopback ports they bind themselves).  mskpki_testsupport (tests/support/) starts and stops the servers.
mk_unit_test(test_ca_aws_pca
    SOURCES test_ca_aws_pca.c
    LIBS mskpki_ca mskpki_testsupport)
target_compile_definitions(test_ca_aws_pca PRIVATE
    MSKPKI_SOURCE_DIR_FALLBACK="${PROJECT_SOURCE_DIR}")
