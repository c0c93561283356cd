# Tests of the agent's privilege separation (agent/ipc, keyproc, netproc, sandbox, main.c).
mk_unit_test(test_agent_ipc SOURCES test_agent_ipc.c LIBS mskpki_agent_core)
mk_integration_test(test_agent_privsep
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_privsep.py $<TARGET_FILE:mskpki-agent>)
