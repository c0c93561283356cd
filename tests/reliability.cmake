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
