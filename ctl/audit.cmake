add_library(mskpki_ctl_audit STATIC ${CMAKE_CURRENT_SOURCE_DIR}/audit.c)
target_link_libraries(mskpki_ctl_audit PUBLIC mskpki mskpki_aws mskpki_conf PkgConfig::JANSSON)
