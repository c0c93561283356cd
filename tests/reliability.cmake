# tests/reliability.cmake: issue 8 (fault injection, bad input, secrets, memcheck).

# --- bad input and secrets (branch fuzzing; docs/fuzzing.md) ---
mk_unit_test(test_bad_answers SOURCES badinput/test_bad_answers.c LIBS mskpki)
mk_integration_test(test_bad_input python3 ${CMAKE_CURRENT_SOURCE_DIR}/badinput/test_bad_input.py)

# The secrets scan runs after every other test: each test requires the fixture mskpki_suite
# (tests/CMakeLists.txt), whose setup empties the artifacts dir and whose cleanup is the scan.
add_test(NAME test_artifacts_reset
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${PROJECT_BINARY_DIR}/artifacts)
set_tests_properties(test_artifacts_reset PROPERTIES FIXTURES_SETUP mskpki_suite
    LABELS integration)
add_test(NAME test_secrets COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/badinput/test_secrets.py)
set_tests_properties(test_secrets PROPERTIES FIXTURES_CLEANUP mskpki_suite LABELS integration
    TIMEOUT 300 ENVIRONMENT "${MK_TEST_ENV}" SKIP_RETURN_CODE 77)
