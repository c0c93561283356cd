# conf/: the config parser against the example configs and tests/data/conf/.
mk_unit_test(test_conf SOURCES test_conf.c LIBS mskpki_conf)
