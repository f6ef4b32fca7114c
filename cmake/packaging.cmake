# Installation (`make install PREFIX=…`) and the Debian package (`make deb`, CPack).
# Installs: the gateway, the offline demo server (for the default config), the default config
# (a conffile of the package), and a hardened systemd unit.
include(GNUInstallDirs)

set(MCPGW_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/mcpgw")
set(MCPGW_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/mcpgw")
set(MCPGW_DEMO_BINARY "${CMAKE_INSTALL_FULL_LIBDIR}/mcpgw/mcpgw-demo")
configure_file(packaging/mcpgw.service.in packaging/mcpgw.service @ONLY)
configure_file(packaging/mcpgw.json.in packaging/mcpgw.json @ONLY)
configure_file(packaging/conffiles.in packaging/conffiles @ONLY)

install(TARGETS mcpgw RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS mcpgw-demo RUNTIME DESTINATION ${CMAKE_INSTALL_LIBDIR}/mcpgw)
install(FILES ${PROJECT_BINARY_DIR}/packaging/mcpgw.json DESTINATION ${MCPGW_CONFIG_DIR})
install(FILES ${PROJECT_BINARY_DIR}/packaging/mcpgw.service DESTINATION lib/systemd/system)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mcpgw)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "mcpgw maintainers <mcpgw@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Gateway for the Model Context Protocol: every client, every revision, one guarded pipeline")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
