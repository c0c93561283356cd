# tests/reliability.cmake: issue 8 (fault injection, crash safety, bad input, secrets).

# --- bad input and secrets (branch fuzzing; docs/fuzzing.md) ---
mk_unit_test(test_bad_answers SOURCES badinput/test_bad_answers.c LIBS mskpki_ca)
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

# --- faults (docs/reliability.md) ---
# Reliability tests (tests/reliability/, docs/reliability.md): CA faults, crash safety, disk,
# permission and clock faults against the real agent.
foreach(fault throttle http500 http503 in_progress malformed truncated cut empty slow wrong_key
        expired other_ca bad_chain)
    mk_integration_test(test_reliability_pca_${fault}
        python3 ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_pca_faults.py
        $<TARGET_FILE:mskpki-agent> ${fault})
endforeach()

# At least 200 SIGKILLs at random points of rotations (MSKPKI_CRASH_KILLS=2000 for the long run).
mk_integration_test(test_reliability_crash_loop
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_crash_loop.py $<TARGET_FILE:mskpki-agent>)

# Disk and permission faults; enospc_shim.c is the LD_PRELOAD full disk used when a tmpfs cannot
# be mounted (not root).
add_library(mskpki_enospc MODULE reliability/enospc_shim.c)
target_link_libraries(mskpki_enospc PRIVATE dl)
set_target_properties(mskpki_enospc PROPERTIES PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
mk_integration_test(test_reliability_disk_faults
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_disk_faults.py $<TARGET_FILE:mskpki-agent>)
mk_integration_test(test_reliability_disk_faults_shim
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_disk_faults.py $<TARGET_FILE:mskpki-agent>)
set_property(TEST test_reliability_disk_faults_shim APPEND PROPERTY ENVIRONMENT
    MSKPKI_ENOSPC_SHIM=1 MSKPKI_ENOSPC_SHIM_PATH=$<TARGET_FILE:mskpki_enospc>)

# Clock before notBefore / after notAfter and a jump forward while asleep (libfaketime).
mk_integration_test(test_reliability_clock_faults
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/reliability/test_clock_faults.py $<TARGET_FILE:mskpki-agent>)
