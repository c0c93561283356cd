# Tests of the agent (agent/): unit tests of its pure modules, integration scripts in tests/agent/.
mk_unit_test(test_agent_schedule SOURCES test_agent_schedule.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_state SOURCES test_agent_state.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_metrics SOURCES test_agent_metrics.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_hook SOURCES test_agent_hook.c LIBS mskpki_agent_core)

foreach(t rotate failure sighup once idle check_config aws_pca recover notify)
    mk_integration_test(test_agent_${t}
        python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_${t}.py $<TARGET_FILE:mskpki-agent>)
endforeach()

# The alert rules shipped in docs/ must load in Prometheus.
find_program(PROMTOOL promtool)
if(PROMTOOL)
    mk_integration_test(test_agent_alert_rules ${PROMTOOL} check rules
        ${PROJECT_SOURCE_DIR}/docs/alerts.rules.yml)
endif()
