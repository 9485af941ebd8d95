# The Debian packages, through CPack (docs/packaging.md): `cpack --config build/CPackConfig.cmake` in a build
# configured with -DOTINISH_INSTALL_SERVICE=ON (scripts/package.sh does both).
#   otinish          the install components `server` (bin/otinish, the examples) and `service` (the systemd
#                    unit, /etc/otinish/otinish.yaml, the docs)
#   libotinish-dev   the component `dev` (cmake/install.cmake)
option(OTINISH_INSTALL_SERVICE
       "Install the systemd unit and /etc/otinish/otinish.yaml (absolute paths: for the Debian package)" OFF)
if(NOT OTINISH_INSTALL_SERVICE)
  return()
endif()

install(FILES packaging/otinish.service DESTINATION /lib/systemd/system COMPONENT service)
execute_process(COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/otinish.1
                OUTPUT_FILE ${PROJECT_BINARY_DIR}/otinish.1.gz COMMAND_ERROR_IS_FATAL ANY)
install(FILES ${PROJECT_BINARY_DIR}/otinish.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT service)
install(FILES examples/config/otinish.yaml DESTINATION /etc/otinish COMPONENT service)
# Each package's documentation, with the copyright and changelog files Debian's policy asks of every package.
execute_process(COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/changelog
                OUTPUT_FILE ${PROJECT_BINARY_DIR}/changelog.gz COMMAND_ERROR_IS_FATAL ANY)
foreach(package_component otinish:service libotinish-dev:dev)
  string(REPLACE ":" ";" pair ${package_component})
  list(GET pair 0 package)
  list(GET pair 1 component)
  install(FILES packaging/copyright ${PROJECT_BINARY_DIR}/changelog.gz CHANGELOG.md
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component})
endforeach()
install(FILES README.md docs/packaging.md docs/http.md docs/privacy.md docs/proof.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/otinish COMPONENT service)
install(FILES docs/library.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/libotinish-dev COMPONENT dev)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME otinish)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the otinish authors")
# Whoever builds packages for a city puts their own address here (-DOTINISH_PACKAGE_MAINTAINER=...).
set(OTINISH_PACKAGE_MAINTAINER "otinish maintainers <maintainers@otinish.example.org>" CACHE STRING
    "The Maintainer field of the Debian packages")
set(CPACK_PACKAGE_CONTACT "${OTINISH_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
include(CPackComponent)
cpack_add_component_group(otinish)
cpack_add_component_group(libotinish-dev)
cpack_add_component(server GROUP otinish)
cpack_add_component(service GROUP otinish)
cpack_add_component(dev GROUP libotinish-dev)

set(CPACK_DEBIAN_OTINISH_PACKAGE_NAME otinish)
set(CPACK_DEBIAN_OTINISH_PACKAGE_SECTION net)
set(CPACK_DEBIAN_OTINISH_DESCRIPTION
    "workflow and SLA rules engine for city appeal centres (109 lines)\nRegisters residents' appeals, routes them to agencies, watches their\ndeadlines against YAML SLA rules and business calendars, escalates late\nones, and keeps every event in an append-only, verifiable log. This\npackage holds the server, run by a hardened systemd unit.")
set(CPACK_DEBIAN_OTINISH_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_OTINISH_PACKAGE_DEPENDS "adduser, tzdata")
set(CPACK_DEBIAN_OTINISH_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_OTINISH_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_LIBOTINISH-DEV_PACKAGE_NAME libotinish-dev)
set(CPACK_DEBIAN_LIBOTINISH-DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_LIBOTINISH-DEV_DESCRIPTION
    "workflow and SLA rules engine for city appeal centres - development files\nThe otinish libraries (static), their headers, the CMake package\n(find_package(otinish)) and otinish.pc, for programs that embed the\nevent log, the appeal engine and the SLA rules.")
set(CPACK_DEBIAN_LIBOTINISH-DEV_PACKAGE_DEPENDS
    "librocksdb-dev, libsodium-dev, libyaml-cpp-dev, libhowardhinnant-date-dev, libboost-json1.81-dev, libcereal-dev, pkg-config")

# Last: CPack writes CPackConfig.cmake from the variables above.
include(CPack)
