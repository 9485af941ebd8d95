# What `cmake --install` puts where (docs/library.md). Two components, which are also the Debian packages:
#   dev:     include/otinish/{common,store,rules,engine}/   the headers, included as "store/rocks_store.h"
#            lib/libotinish_*.a                             the libraries (static: see docs/library.md)
#            lib/cmake/otinish/                             find_package(otinish): otinish::store, ...
#            lib/pkgconfig/otinish.pc                       pkg-config --cflags --libs otinish
#   server:  bin/otinish                                    the server and the command line
#            share/otinish/examples/                        the example calendars, rules and catalogue
include(CMakePackageConfigHelpers)

set(otinish_installed common store rules engine sla privacy proof)
set(otinish_installed_targets)
foreach(lib IN LISTS otinish_installed)
  set_target_properties(otinish_${lib} PROPERTIES EXPORT_NAME ${lib})
  list(APPEND otinish_installed_targets otinish_${lib})
endforeach()

install(TARGETS ${otinish_installed_targets} EXPORT otinishTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY common store rules engine
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/otinish COMPONENT dev
        FILES_MATCHING PATTERN "*.h")
install(EXPORT otinishTargets NAMESPACE otinish::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/otinish COMPONENT dev)

configure_package_config_file(cmake/otinishConfig.cmake.in ${PROJECT_BINARY_DIR}/otinishConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/otinish)
# Before 1.0.0 a minor release may break (semantic versioning), so 0.1 accepts 0.1.x only.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(otinish_compatibility SameMinorVersion)
else()
  set(otinish_compatibility SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/otinishConfigVersion.cmake
                                 COMPATIBILITY ${otinish_compatibility})
install(FILES ${PROJECT_BINARY_DIR}/otinishConfig.cmake ${PROJECT_BINARY_DIR}/otinishConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/otinish COMPONENT dev)

# Relative to the .pc file itself, so that the prefix given to `cmake --install --prefix` holds.
file(RELATIVE_PATH otinish_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(cmake/otinish.pc.in ${PROJECT_BINARY_DIR}/otinish.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/otinish.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

install(TARGETS otinish RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(DIRECTORY examples/calendars examples/rules examples/catalogue
        DESTINATION ${CMAKE_INSTALL_DATADIR}/otinish/examples COMPONENT server)
