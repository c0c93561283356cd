# tests/reliability.cmake: issue 8 (fault injection, bad input, secrets, memcheck).

# --- bad input and secrets (branch fuzzing; docs/fuzzing.md) ---
mk_unit_test(test_bad_answers SOURCES badinput/test_bad_answers.c LIBS mskpki)
mk_integration_test(test_bad_input python3 ${CMAKE_CURRENT_SOURCE_DIR}/badinput/test_bad_input.py)
