# The one test support library (tests/support/): servers on loopback ports they bind and report (start, wait,
# stop), temp directories and whole files, stderr capture.  Tests link it with
# mk_unit_test(... LIBS mskpki_testsupport).
add_library(mskpki_testsupport STATIC
    ${CMAKE_CURRENT_LIST_DIR}/server.c
    ${CMAKE_CURRENT_LIST_DIR}/files.c
    ${CMAKE_CURRENT_LIST_DIR}/capture.c)
