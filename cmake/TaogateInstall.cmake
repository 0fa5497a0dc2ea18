# Install rules and the Debian packages (CPack DEB), one package per plane:
#   taogate-agent     the node: agent binary, its systemd unit, default config
#   taogate-governor  the control plane: governor, unit, sysusers entry, config
#   taogate-cli       taogatectl (operators, approvers, auditors)
# The node package holds no issuing code: taogate-governor is never a
# dependency of taogate-agent. Files under /etc are conffiles (an upgrade
# never overwrites an operator's edits). Installation never starts a
# service: starting the agent starts enforcement, and the governor needs its
# keys initialised first (docs/packaging.md).
include(GNUInstallDirs)

set(TAOGATE_UNITDIR "lib/systemd/system")
set(TAOGATE_SYSUSERSDIR "lib/sysusers.d")
set(TAOGATE_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc")

install(TARGETS taogate-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
install(FILES deploy/systemd/taogate-agent.service DESTINATION ${TAOGATE_UNITDIR} COMPONENT agent)
install(FILES deploy/agent/agent.yaml DESTINATION /etc/taogate COMPONENT agent)
install(FILES docs/agent.md docs/kernel.md DESTINATION ${TAOGATE_DOCDIR}/taogate-agent COMPONENT agent)

install(TARGETS taogate-governor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT governor)
install(FILES deploy/governor/taogate-governor.service DESTINATION ${TAOGATE_UNITDIR} COMPONENT governor)
install(FILES deploy/package/taogate-governor.sysusers DESTINATION ${TAOGATE_SYSUSERSDIR}
        RENAME taogate-governor.conf COMPONENT governor)
install(FILES deploy/governor/governor.yaml DESTINATION /etc/taogate COMPONENT governor)
install(FILES docs/governor.md docs/keys.md docs/policy.md DESTINATION ${TAOGATE_DOCDIR}/taogate-governor COMPONENT governor)

install(TARGETS taogatectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(FILES README.md docs/architecture.md docs/security.md docs/ledger.md docs/packaging.md
        DESTINATION ${TAOGATE_DOCDIR}/taogate-cli COMPONENT cli)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME taogate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "taogate maintainers <taogate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "kernel-enforced, single-use authorizations for AI agent workloads")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent governor cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME taogate-agent)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "taogate node agent: redeems TAOs, owns the pinned kernel gate, keeps the node ledger")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS taogate-cli)
set(CPACK_DEBIAN_GOVERNOR_PACKAGE_NAME taogate-governor)
set(CPACK_DEBIAN_GOVERNOR_DESCRIPTION "taogate governor: policy, approvals and TPM-anchored TAO issuance")
set(CPACK_DEBIAN_GOVERNOR_PACKAGE_RECOMMENDS "taogate-cli, tpm2-tools")
set(CPACK_DEBIAN_CLI_PACKAGE_NAME taogate-cli)
set(CPACK_DEBIAN_CLI_DESCRIPTION "taogatectl: operate, approve and audit taogate")

# Maintainer scripts and conffiles (CPack takes them from CONTROL_EXTRA).
set(_pkg ${CMAKE_BINARY_DIR}/package-control)
file(MAKE_DIRECTORY ${_pkg}/agent ${_pkg}/governor)
file(WRITE ${_pkg}/agent/conffiles "/etc/taogate/agent.yaml\n")
file(WRITE ${_pkg}/governor/conffiles "/etc/taogate/governor.yaml\n")
foreach(_c agent governor)
  configure_file(${CMAKE_SOURCE_DIR}/deploy/package/${_c}-postinst ${_pkg}/${_c}/postinst COPYONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA "${_pkg}/agent/conffiles;${_pkg}/agent/postinst")
set(CPACK_DEBIAN_GOVERNOR_PACKAGE_CONTROL_EXTRA "${_pkg}/governor/conffiles;${_pkg}/governor/postinst")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
