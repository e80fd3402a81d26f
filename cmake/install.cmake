# What `cmake --install` puts where (GNUInstallDirs): the shared library
# with its SONAME and exported-symbol list, the static library, the public
# headers, udos.pc and the CMake package `udos` (udos::udos, the shared
# library; udos::udos_static). The command installs itself (cli/).
include(CMakePackageConfigHelpers)

# libudos.so: the objects of the static library, linked again with only
# udos_* exported (cmake/udos.map; the sources are already built with
# -fvisibility=hidden and UDOS_API). --no-undefined proves every
# dependency is named here; sanitizer builds skip it (their runtime's
# symbols may be left for the program to bring).
set(UDOS_MAP ${CMAKE_CURRENT_LIST_DIR}/udos.map)
add_library(udos_shared SHARED $<TARGET_OBJECTS:udos>)
set_target_properties(udos_shared PROPERTIES
  OUTPUT_NAME udos
  EXPORT_NAME udos
  VERSION ${PROJECT_VERSION}
  SOVERSION ${UDOS_SOVERSION}
  LINK_DEPENDS ${UDOS_MAP})
target_link_options(udos_shared PRIVATE -Wl,--version-script=${UDOS_MAP})
if(NOT UDOS_SANITIZE AND NOT UDOS_TSAN)
  target_link_options(udos_shared PRIVATE -Wl,--no-undefined)
endif()
target_link_libraries(udos_shared PRIVATE ${UDOS_DEPS})
target_include_directories(udos_shared PUBLIC ${UDOS_PUBLIC_INCLUDES})
set_target_properties(udos PROPERTIES EXPORT_NAME udos_static)

set(UDOS_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/udos)
install(TARGETS udos_shared udos EXPORT udosTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/udos
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/udos/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/udos)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

install(EXPORT udosTargets NAMESPACE udos:: DESTINATION ${UDOS_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/udosConfig.cmake.in
  ${PROJECT_BINARY_DIR}/udosConfig.cmake INSTALL_DESTINATION ${UDOS_CMAKEDIR})
# Before 1.0 a minor release may change the API: 0.1 satisfies only 0.1.x.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/udosConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/udosConfig.cmake
  ${PROJECT_BINARY_DIR}/udosConfigVersion.cmake DESTINATION ${UDOS_CMAKEDIR})

# udos.pc finds its prefix from its own place (${pcfiledir}), so the same
# file serves `cmake --install --prefix P`, the .deb and an unpacked copy.
file(RELATIVE_PATH UDOS_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" UDOS_PC_TO_PREFIX "${UDOS_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/udos.pc.in
  ${PROJECT_BINARY_DIR}/udos.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/udos.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
