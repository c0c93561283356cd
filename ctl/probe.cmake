# probe.cmake: mskpkictl probe and status (owned by the probe engineer).
#
# mskpki_kafka_wire is the ApiVersions codec alone, so the test broker and the fuzz target can use
# it without the AWS and config libraries.
add_library(mskpki_kafka_wire STATIC ${CMAKE_CURRENT_SOURCE_DIR}/kafka_wire.c)
target_link_libraries(mskpki_kafka_wire PUBLIC mskpki_base)

add_library(mskpki_ctl_probe STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/probe.c
    ${CMAKE_CURRENT_SOURCE_DIR}/probe_conn.c
    ${CMAKE_CURRENT_SOURCE_DIR}/probe_certs.c
    ${CMAKE_CURRENT_SOURCE_DIR}/probe_report.c
    ${CMAKE_CURRENT_SOURCE_DIR}/status.c)
target_link_libraries(mskpki_ctl_probe PUBLIC mskpki_kafka_wire mskpki_ctl_audit_core mskpki mskpki_aws mskpki_conf
    OpenSSL::SSL PkgConfig::JANSSON PkgConfig::SODIUM Threads::Threads)
