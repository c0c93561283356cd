# Tests of the agent's privilege separation (agent/ipc, keyproc, netproc, sandbox, main.c).
mk_unit_test(test_agent_ipc SOURCES test_agent_ipc.c LIBS mskpki_agent_core)
# The key process's policy for CA_ISSUE and KEY_STORE (issue 16).
mk_unit_test(test_agent_keypolicy SOURCES test_agent_keypolicy.c LIBS mskpki_agent_core)
mk_integration_test(test_agent_privsep
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_privsep.py $<TARGET_FILE:mskpki-agent>)

# The debug hook exists only in test builds: the role sources compiled again without MK_TESTING
# (what -DMSKPKI_TESTS=OFF and the Debian package build) must not contain it.  -U comes after
# the directory's -DMK_TESTING on the compiler's command line, so it wins.
add_library(agent_release_objs OBJECT
    ${PROJECT_SOURCE_DIR}/agent/netproc.c ${PROJECT_SOURCE_DIR}/agent/keyproc.c
    ${PROJECT_SOURCE_DIR}/agent/keyclient.c
    ${PROJECT_SOURCE_DIR}/agent/main.c ${PROJECT_SOURCE_DIR}/agent/signals.c
    ${PROJECT_SOURCE_DIR}/agent/hostile.c ${PROJECT_SOURCE_DIR}/agent/hostile_fs.c)
target_compile_options(agent_release_objs PRIVATE -UMK_TESTING)
target_link_libraries(agent_release_objs PRIVATE mskpki_agent_core)
add_test(NAME test_agent_release_objects
    COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/check_release_objects.py
        --test $<TARGET_OBJECTS:mskpki_agent_core> --release $<TARGET_OBJECTS:agent_release_objs>
    COMMAND_EXPAND_LISTS)
set_tests_properties(test_agent_release_objects PROPERTIES LABELS unit TIMEOUT 60)

# The fallback without Landlock (issue 9), forced in test builds by MSKPKI_TEST_NO_LANDLOCK=1.
mk_integration_test(test_agent_privsep_nolandlock
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_privsep_nolandlock.py
    $<TARGET_FILE:mskpki-agent>)

# The hostile network process (issue 16): each attack refused, nothing of value changed.
mk_integration_test(test_agent_hostile
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_hostile.py $<TARGET_FILE:mskpki-agent>)
