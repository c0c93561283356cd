# rolesanywhere.cmake: IAM Roles Anywhere across the agent's processes (agent/keysign.c) and the
# full cycle against moto (tests/agent/rolesanywhere_cycle_test.py).
mk_unit_test(test_agent_keysign
    SOURCES ${PROJECT_SOURCE_DIR}/tests/test_agent_keysign.c ${PROJECT_SOURCE_DIR}/tests/store_fixture.c
    LIBS mskpki_agent_core mskpki_testsupport)
mk_integration_test(test_agent_rolesanywhere_cycle
    python3 ${PROJECT_SOURCE_DIR}/tests/agent/test_rolesanywhere_cycle.py $<TARGET_FILE:mskpki-agent>
    $<TARGET_FILE:mskpkictl>)
find_program(PROMTOOL promtool)
mk_integration_test(rolesanywhere_alert_rules_fire ${PROMTOOL} test rules
    ${PROJECT_SOURCE_DIR}/tests/rolesanywhere/alerts.test.yml)
