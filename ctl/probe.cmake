add_library(mskpki_ctl_probe STATIC ${CMAKE_CURRENT_SOURCE_DIR}/probe.c ${CMAKE_CURRENT_SOURCE_DIR}/status.c)
target_link_libraries(mskpki_ctl_probe PUBLIC mskpki mskpki_aws mskpki_conf OpenSSL::SSL PkgConfig::JANSSON)
