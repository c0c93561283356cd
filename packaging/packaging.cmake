# Installation layout and the Debian package (CPack).  `cmake --install` puts mskpkictl in bin,
# mskpki-agent in sbin (both from their directories' CMakeLists), the default config in
# /etc/mskpki, units, sysusers and tmpfiles where Debian's systemd reads them, man pages and docs.
set(MK_PKG ${PROJECT_SOURCE_DIR}/packaging)

install(FILES ${PROJECT_SOURCE_DIR}/conf/mskpki.conf DESTINATION /etc/mskpki
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${MK_PKG}/mskpki-agent.service DESTINATION lib/systemd/system)
foreach(extra mskpki-probe.service mskpki-probe.timer mskpki-audit.service mskpki-audit.timer)
    if(EXISTS ${MK_PKG}/${extra})
        install(FILES ${MK_PKG}/${extra} DESTINATION lib/systemd/system)
    endif()
endforeach()
# Settings of the probe and audit timers (which stay disabled until the admin enables them).
install(FILES ${MK_PKG}/default/mskpki-probe ${MK_PKG}/default/mskpki-audit DESTINATION /etc/default)
install(FILES ${MK_PKG}/sysusers.conf DESTINATION lib/sysusers.d RENAME mskpki.conf)
install(FILES ${MK_PKG}/tmpfiles.conf DESTINATION lib/tmpfiles.d RENAME mskpki.conf)
install(FILES ${MK_PKG}/man/mskpki-agent.8 ${MK_PKG}/man/mskpkictl.8 DESTINATION share/man/man8)
install(FILES ${MK_PKG}/man/mskpki.conf.5 DESTINATION share/man/man5)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/mskpki)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/mskpki
    FILES_MATCHING PATTERN "*.md" PATTERN "*.yml")
install(FILES ${PROJECT_SOURCE_DIR}/conf/local-ca.conf ${PROJECT_SOURCE_DIR}/conf/aws-pca.conf
    DESTINATION share/doc/mskpki/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mskpki)
set(CPACK_PACKAGE_VENDOR "mskpki developers")
set(CPACK_PACKAGE_CONTACT "mskpki developers <mskpki@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Kafka mTLS client certificates from AWS Private CA, rotated and audited")
set(CPACK_PACKAGE_DESCRIPTION "mskpki-agent issues, stores and rotates client certificates for Kafka hosts \
(AWS Private CA or a local CA) and exports rotation health to Prometheus; mskpkictl audits MSK, Kinesis, \
Firehose and KMS settings and probes brokers with negative mTLS tests.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${MK_PKG}/debian/postinst ${MK_PKG}/debian/prerm ${MK_PKG}/debian/postrm ${MK_PKG}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/packaging/iam/ DESTINATION share/doc/mskpki/iam)
# bash completion (bash-completion loads /usr/share/bash-completion/completions/<command>).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/completion/mskpkictl
    ${PROJECT_SOURCE_DIR}/packaging/completion/mskpki-agent
    DESTINATION share/bash-completion/completions)
