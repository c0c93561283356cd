# bench.cmake: one smoke test running every bench/ program in a tiny mode (docs/performance.md).
# It checks the figures are printed, never their values.
mk_integration_test(bench_smoke bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/smoke.sh
    $<TARGET_FILE:mskpki-agent> $<TARGET_FILE:mskpkictl> $<TARGET_FILE:test_broker>
    $<TARGET_FILE:bench_floor> $<TARGET_FILE:bench_fsync_floor>)
