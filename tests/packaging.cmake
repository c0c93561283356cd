# The package test installs onto this machine with dpkg, so it runs alone and only in the normal
# build (the sanitizer build would package instrumented binaries).
if(NOT MSKPKI_SANITIZE)
    mk_integration_test(packaging_deb bash ${CMAKE_CURRENT_SOURCE_DIR}/packaging/test_deb.sh)
    set_tests_properties(packaging_deb PROPERTIES RUN_SERIAL TRUE)
endif()
# The shipped IAM policies against the AWS operations the code calls (no AWS, no root).
mk_integration_test(packaging_iam python3 ${CMAKE_CURRENT_SOURCE_DIR}/packaging/test_iam.py)

# One source for option lists: --help, the man pages and the bash completions agree.
mk_integration_test(options_doc python3 ${CMAKE_CURRENT_SOURCE_DIR}/packaging/test_options_doc.py
    ${PROJECT_SOURCE_DIR} $<TARGET_FILE:mskpki-agent> $<TARGET_FILE:mskpkictl>)
