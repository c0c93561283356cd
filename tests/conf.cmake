# conf/: the config parser against the example configs and tests/data/conf/.
mk_unit_test(test_conf SOURCES test_conf.c LIBS mskpki_conf)

# Every default docs/config.md states is the one conf_load() applies (issue 17): conf_defaults
# prints them, the test reads the doc's tables.
add_executable(conf_defaults ${CMAKE_CURRENT_SOURCE_DIR}/tools/conf_defaults.c)
target_link_libraries(conf_defaults PRIVATE mskpki_conf PkgConfig::JANSSON)
mk_integration_test(config_doc_defaults python3
    ${CMAKE_CURRENT_SOURCE_DIR}/docs/test_config_defaults.py ${PROJECT_SOURCE_DIR}
    $<TARGET_FILE:conf_defaults>)
