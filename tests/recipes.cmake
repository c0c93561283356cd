# Issue 17, "every documented default works": the documented configs and shell recipes, run as
# a user would run them (tests/recipes/), each in a private mount and network namespace whose
# /etc, /usr, /var and /dev are overlays (root only: they need unshare and mount).
foreach(case minimal-aws-pca conf/local-ca.conf conf/aws-pca.conf conf/mskpki.conf docs)
    string(REGEX REPLACE "[^a-z0-9]+" "_" tname "${case}")
    mk_integration_test(test_recipes_${tname}
        python3 ${CMAKE_CURRENT_SOURCE_DIR}/recipes/test_examples.py $<TARGET_FILE:mskpki-agent>
        $<TARGET_FILE:mskpkictl> ${case})
    set_tests_properties(test_recipes_${tname} PROPERTIES TIMEOUT 300)
endforeach()
# The quick start's ```sh blocks run verbatim as root, then the agent runs as its unit runs it
# (user mskpki) on the files they made, at moto.
mk_integration_test(test_recipes_quickstart
    python3 ${CMAKE_CURRENT_SOURCE_DIR}/recipes/test_quickstart.py $<TARGET_FILE:mskpki-agent>
    $<TARGET_FILE:mskpkictl>)
set_tests_properties(test_recipes_quickstart PROPERTIES TIMEOUT 300)
