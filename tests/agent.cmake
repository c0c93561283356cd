# Tests of the agent (agent/): unit tests of its pure modules, integration scripts in tests/agent/.
mk_unit_test(test_agent_schedule SOURCES test_agent_schedule.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_state SOURCES test_agent_state.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_metrics SOURCES test_agent_metrics.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_hook SOURCES test_agent_hook.c LIBS mskpki_agent_core)
mk_unit_test(test_agent_iterate SOURCES test_agent_iterate.c LIBS mskpki_agent_core)
mk_unit_test(test_issue SOURCES test_issue.c LIBS mskpki_issue)

foreach(t rotate failure sighup once idle check_config aws_pca recover notify stop hook_retry
        trusted_paths privsep_user hook_async watchdog_slow_ca reload_rename
        check_config_checks)
    mk_integration_test(test_agent_${t}
        python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_${t}.py $<TARGET_FILE:mskpki-agent>)
endforeach()

# The smallest valid config of the local backend, end to end (mskpkictl status included).
mk_integration_test(test_agent_minimal_local
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_minimal_local.py $<TARGET_FILE:mskpki-agent>
    $<TARGET_FILE:mskpkictl>)

# Prometheus itself (Debian's prometheus package): promtool checks the alert rules shipped in
# docs/, and a real server scrapes a running agent and evaluates those rules against it.  Not
# found is a failing test, not a silently missing one.
find_program(PROMTOOL promtool)
find_program(PROMETHEUS prometheus)
mk_integration_test(test_agent_alert_rules ${PROMTOOL} check rules
    ${PROJECT_SOURCE_DIR}/docs/alerts.rules.yml)
# The renewal-plan alerts fire on time for 90 s, 1 d, 7 d, 30 d and 1 y certificates.
mk_integration_test(test_agent_alert_rules_timing
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/alert_rules_test.py ${PROMTOOL}
    ${PROJECT_SOURCE_DIR}/docs/alerts.rules.yml)
mk_integration_test(test_agent_prometheus
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_prometheus.py $<TARGET_FILE:mskpki-agent>
    ${PROMETHEUS})

# cert issue resumes the agent's interrupted issuance (one pending place; issue 16), at moto.
mk_integration_test(test_agent_resume_cert_issue
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_resume_cert_issue.py
    $<TARGET_FILE:mskpki-agent> $<TARGET_FILE:mskpkictl>)
# Issue 16: the metrics endpoint over TLS and mTLS (a real Prometheus scrapes it), and its
# connection limits and per-connection deadline against idle and trickling clients.
mk_integration_test(test_agent_metrics_tls
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_metrics_tls.py $<TARGET_FILE:mskpki-agent>
    ${PROMETHEUS})
mk_integration_test(test_agent_metrics_slow_clients
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_metrics_slow_clients.py
    $<TARGET_FILE:mskpki-agent>)
# Issue 16 x the AWS chain: started as root, the network process reads ~/.aws from agent.user's
# home (root's would stop the chain at EACCES before the container credentials).
mk_integration_test(test_agent_aws_home
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_aws_home.py $<TARGET_FILE:mskpki-agent>)
# Issue 17: one writer per state_dir (the lock) and the control socket (mskpkictl renew, reload,
# status --live, cert issue/revoke through the daemon, permissions), as root like CI.
mk_integration_test(test_agent_control
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_control.py
    $<TARGET_FILE:mskpki-agent> $<TARGET_FILE:mskpkictl>)
