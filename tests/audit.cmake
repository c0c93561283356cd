# Tests of `mskpkictl audit` (ctl/audit*.c, ctl/audit/report.c); see docs/audit.md.
mk_unit_test(test_audit_checks SOURCES test_audit_checks.c LIBS mskpki_ctl_audit_core)
mk_unit_test(test_audit_report SOURCES test_audit_report.c LIBS mskpki_ctl_audit_core)
mk_unit_test(test_audit_cli SOURCES test_audit_cli.c LIBS mskpki_ctl_audit_core)
mk_unit_test(test_audit_pool SOURCES test_audit_pool.c LIBS mskpki_ctl_audit_core)
mk_unit_test(test_audit_enrich SOURCES test_audit_enrich.c LIBS mskpki_ctl_audit_core)
mk_unit_test(test_audit_history SOURCES test_audit_history.c LIBS mskpki_ctl_audit_core)

# End to end against moto (seeded by tests/audit/seed_moto.py) and the recorded-answer fake
# (tests/audit/fake_aws.py) for what moto lacks: AWS-managed keys, serverless details,
# AccessDenied, pagination.  Each server runs on a free 127.0.0.1 port and is stopped.
mk_integration_test(audit_moto COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/audit/test_audit.py
    --mskpkictl $<TARGET_FILE:mskpkictl> --suite moto)
mk_integration_test(audit_fake COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/audit/test_audit.py
    --mskpkictl $<TARGET_FILE:mskpkictl> --suite fake)

# The example alert rules of docs/audit.md load in Prometheus and fire on the audit's metrics.
mk_integration_test(audit_alert_rules COMMAND promtool check rules
    ${PROJECT_SOURCE_DIR}/docs/audit-alerts.rules.yml)
mk_integration_test(audit_alert_rules_fire COMMAND promtool test rules
    ${CMAKE_CURRENT_SOURCE_DIR}/audit/audit-alerts.test.yml)

# Which credentials and endpoints mskpkictl uses: --profile over the environment, --endpoint-url
# for the services and --role-arn, the credential chain's STS calls elsewhere (issue 17).
mk_integration_test(ctl_profile_endpoint COMMAND python3
    ${CMAKE_CURRENT_SOURCE_DIR}/audit/test_profile_endpoint.py --mskpkictl $<TARGET_FILE:mskpkictl>)
