# cert.cmake: mskpkictl cert inspect|issue|revoke (docs/cert.md).
add_library(mskpki_ctl_cert STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/cert.c
    ${CMAKE_CURRENT_SOURCE_DIR}/cert_inspect.c)
target_link_libraries(mskpki_ctl_cert PUBLIC mskpki_issue mskpki mskpki_conf PkgConfig::JANSSON)
