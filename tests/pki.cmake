# Unit tests of pki/secret, key, csr, cert, ca, ca_local (owner: pki core).
mk_unit_test(test_secret SOURCES test_secret.c LIBS mskpki_base mskpki_testsupport)
mk_unit_test(test_key SOURCES test_key.c LIBS mskpki)
mk_unit_test(test_csr SOURCES test_csr.c LIBS mskpki)
mk_unit_test(test_cert SOURCES test_cert.c LIBS mskpki)
mk_unit_test(test_ca_local SOURCES test_ca_local.c LIBS mskpki_ca mskpki_testsupport)
mk_unit_test(test_path SOURCES test_path.c LIBS mskpki_base)
mk_unit_test(test_keepalive SOURCES test_keepalive.c LIBS mskpki_base)

# The folder map (docs/design.md): includes run down only; libmskpki links no curl or libxml2.
mk_integration_test(layers python3 ${CMAKE_CURRENT_SOURCE_DIR}/layers/test_layers.py
    ${PROJECT_SOURCE_DIR} $<TARGET_FILE:test_key> $<TARGET_FILE:test_csr> $<TARGET_FILE:test_cert>)
