# mskpki_ctl_audit_core: the parts of `mskpkictl audit` that make no AWS call (report writers,
# checks, command line, pool), so the unit tests link them without the AWS client.
add_library(mskpki_ctl_audit_core STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/audit_checks.c
    ${CMAKE_CURRENT_SOURCE_DIR}/audit_cli.c
    ${CMAKE_CURRENT_SOURCE_DIR}/audit_pca.c
    ${CMAKE_CURRENT_SOURCE_DIR}/audit_pool.c
    ${CMAKE_CURRENT_SOURCE_DIR}/report.c)
target_link_libraries(mskpki_ctl_audit_core PUBLIC mskpki_base PkgConfig::JANSSON OpenSSL::Crypto
    Threads::Threads m)

# mskpki_ctl_audit: `mskpkictl audit` (docs/audit.md).
add_library(mskpki_ctl_audit STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/audit.c
    ${CMAKE_CURRENT_SOURCE_DIR}/audit_aws.c)
target_link_libraries(mskpki_ctl_audit PUBLIC mskpki_ctl_audit_core mskpki mskpki_aws mskpki_conf
    PkgConfig::JANSSON Threads::Threads)
