# cert.cmake: mskpkictl cert inspect|issue|revoke, probe --revoked-cert / --format prometheus,
# and the probe and audit timers.
mk_unit_test(test_ctl_cert SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_ctl_cert.c
    LIBS mskpki_ctl_cert mskpki_ctl_probe)

foreach(scenario inspect issue_local revoke_crl aws usage)
    mk_integration_test(cert_${scenario}
        python3 ${CMAKE_CURRENT_SOURCE_DIR}/cert/cert_test.py $<TARGET_FILE:mskpkictl>
        $<TARGET_FILE:test_broker> ${scenario})
endforeach()

mk_integration_test(cert_units bash ${CMAKE_CURRENT_SOURCE_DIR}/cert/units_test.sh
    $<TARGET_FILE:mskpkictl>)

# ctl/output.c: the abbreviation rule, numbers, exit statuses, escapes, report files.
mk_unit_test(test_ctl_output SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_ctl_output.c
    LIBS mskpki_ctl_output OpenSSL::SSL)
