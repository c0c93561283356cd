# probe.cmake: tests of `mskpkictl probe` and `mskpkictl status` (owned by the probe engineer).

# The TLS "Kafka broker" the integration scenarios probe.
add_executable(test_broker ${CMAKE_CURRENT_SOURCE_DIR}/tools/test_broker.c)
target_link_libraries(test_broker PRIVATE mskpki_kafka_wire OpenSSL::SSL Threads::Threads)

mk_unit_test(test_probe_wire SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_probe_wire.c
    LIBS mskpki_kafka_wire)
mk_unit_test(test_probe SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_probe.c
    LIBS mskpki_ctl_probe)
# mskpki_agent_core: the agent's own state-file writer, so status is tested on what it writes.
mk_unit_test(test_status SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_status.c
    LIBS mskpki_ctl_status mskpki_agent_core)

# One ctest entry per scenario of tests/probe/probe_test.sh.
foreach(scenario strict apiversions old_kafka tls12_only tls13_only no_client_auth optional trust_any crl broker_cert
        down http silent s_server concurrency agent_config cluster_arn usage legacy_tls plaintext
        revoked_acl cluster_arn_plaintext)
    mk_integration_test(probe_${scenario}
        bash ${CMAKE_CURRENT_SOURCE_DIR}/probe/probe_test.sh $<TARGET_FILE:mskpkictl>
        $<TARGET_FILE:test_broker> ${scenario})
endforeach()
