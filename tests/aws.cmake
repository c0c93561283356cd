# tests/aws.cmake: the aws/ area's tests (owned by the aws engineer).
mk_unit_test(test_aws_sigv4 SOURCES ${PROJECT_SOURCE_DIR}/tests/test_aws_sigv4.c LIBS mskpki_aws)
mk_unit_test(test_aws_client
    SOURCES ${PROJECT_SOURCE_DIR}/tests/test_aws_client.c ${PROJECT_SOURCE_DIR}/tests/aws/server.c
    LIBS mskpki_aws mskpki_testsupport)
mk_unit_test(test_aws_profile
    SOURCES ${PROJECT_SOURCE_DIR}/tests/test_aws_profile.c ${PROJECT_SOURCE_DIR}/tests/aws/server.c
    LIBS mskpki_aws mskpki_testsupport)
mk_unit_test(test_aws_creds
    SOURCES ${PROJECT_SOURCE_DIR}/tests/test_aws_creds.c ${PROJECT_SOURCE_DIR}/tests/aws/server.c
    LIBS mskpki_aws mskpki_testsupport)
mk_unit_test(test_aws_rolesanywhere
    SOURCES ${PROJECT_SOURCE_DIR}/tests/test_aws_rolesanywhere.c LIBS mskpki_aws)
mk_integration_test(aws_rolesanywhere
    python3 ${PROJECT_SOURCE_DIR}/tests/aws/rolesanywhere_test.py $<TARGET_FILE:mskpkictl>)
