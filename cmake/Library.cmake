# The installable library and what `cmake --install` puts beside it (issue 15):
#
#   lib/liburingrpc.a                    every layer's objects (target uringrpc)
#   lib/liburingrpc.so.0 -> .so.0.1.0    the same objects, only urpc_* exported (cmake/uringrpc.map)
#   include/<URPC_PUBLIC_HEADERS>
#   lib/pkgconfig/uringrpc.pc            private dependencies listed, so --static works
#   lib/cmake/uringrpc/                  find_package(uringrpc CONFIG): uringrpc::uringrpc (shared),
#                                        uringrpc::uringrpc_static, uringrpc_add_protos()
#
# What goes in is set by the top-level CMakeLists.txt before including this file, one line per
# item: URPC_LIBRARY_LAYERS (object libraries), URPC_PUBLIC_HEADERS (source-relative),
# URPC_PUBLIC_MODULES / URPC_PRIVATE_MODULES (pkg-config modules the library's users compile
# against / the library alone links) and URPC_PRIVATE_LIBS (-l names of libraries without a
# .pc). The pkg-config file, the CMake package and the .deb's dependencies are all made from them.
#
# Install components: "runtime" (shared library, uringrpc-server, man page) and "dev" (the rest);
# cmake/Packaging.cmake makes one Debian package of each.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(URPC_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/uringrpc)

# The version is written twice: project() and URPC_VERSION_STRING in the public header.
file(STRINGS ${CMAKE_SOURCE_DIR}/rpc/uringrpc.h urpc_header_version
     REGEX "^#define URPC_VERSION_STRING \"[^\"]*\"")
string(REGEX REPLACE ".*\"(.*)\".*" "\\1" urpc_header_version "${urpc_header_version}")
if(NOT urpc_header_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "rpc/uringrpc.h says URPC_VERSION_STRING \"${urpc_header_version}\" but "
                      "project() says ${PROJECT_VERSION}: make them agree")
endif()

# The dependencies, found the way the installed package finds them (cmake/uringrpcConfig.cmake.in)
# so the exported targets name the same imported targets.
pkg_check_modules(URPC_PKG_PUBLIC REQUIRED IMPORTED_TARGET ${URPC_PUBLIC_MODULES})
pkg_check_modules(URPC_PKG_PRIVATE REQUIRED IMPORTED_TARGET ${URPC_PRIVATE_MODULES})
set(urpc_private_libs)
foreach(lib ${URPC_PRIVATE_LIBS})
  find_library(URPC_LIB_${lib} ${lib} REQUIRED)
  list(APPEND urpc_private_libs "$<BUILD_INTERFACE:${URPC_LIB_${lib}}>"
                                "$<INSTALL_INTERFACE:${lib}>")
endforeach()

set(urpc_objects)
foreach(layer ${URPC_LIBRARY_LAYERS})
  list(APPEND urpc_objects $<TARGET_OBJECTS:${layer}>)
endforeach()
# In the tree, users of the library (examples, tests) also see the sources' root (layer headers)
# and the generated protobuf-c code; installed, the include directory.
set(urpc_build_includes ${CMAKE_SOURCE_DIR} ${URPC_GEN_DIR})
foreach(h ${URPC_PUBLIC_HEADERS})
  get_filename_component(dir ${CMAKE_SOURCE_DIR}/${h} DIRECTORY)
  list(APPEND urpc_build_includes ${dir})
endforeach()
list(REMOVE_DUPLICATES urpc_build_includes)

function(urpc_library_usage target)
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${urpc_build_includes}>"
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # uringrpc.h includes protobuf-c.h, and the services' generated code calls protobuf-c.
  target_link_libraries(${target} PUBLIC PkgConfig::URPC_PKG_PUBLIC
                                  PRIVATE PkgConfig::URPC_PKG_PRIVATE Threads::Threads
                                          ${urpc_private_libs})
endfunction()

# Static: the tree's examples and tests link this one (it keeps every symbol).
add_library(uringrpc STATIC ${urpc_objects})
add_library(uringrpc::uringrpc_static ALIAS uringrpc)
set_target_properties(uringrpc PROPERTIES EXPORT_NAME uringrpc_static)
urpc_library_usage(uringrpc)
install(TARGETS uringrpc EXPORT uringrpcStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(EXPORT uringrpcStaticTargets NAMESPACE uringrpc:: DESTINATION ${URPC_CMAKE_INSTALL_DIR}
        COMPONENT dev)

# Shared: liburingrpc.so.<major>, exporting the public API only. Off by default in sanitizer and
# fuzzer builds, which only test the tree.
if(URPC_SHARED)
  set(urpc_map ${CMAKE_SOURCE_DIR}/cmake/uringrpc.map)
  add_library(uringrpc_shared SHARED ${urpc_objects})
  add_library(uringrpc::uringrpc ALIAS uringrpc_shared)
  set_target_properties(uringrpc_shared PROPERTIES OUTPUT_NAME uringrpc EXPORT_NAME uringrpc
                        VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                        LINK_DEPENDS ${urpc_map})
  # --no-undefined: a dependency missing from the link is an error here, not in the user's link.
  target_link_options(uringrpc_shared PRIVATE -Wl,--version-script=${urpc_map}
                                              -Wl,--no-undefined)
  urpc_library_usage(uringrpc_shared)
  install(TARGETS uringrpc_shared EXPORT uringrpcTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
  install(EXPORT uringrpcTargets NAMESPACE uringrpc:: DESTINATION ${URPC_CMAKE_INSTALL_DIR}
          COMPONENT dev)
endif()

install(FILES ${URPC_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

# ---- pkg-config ---------------------------------------------------------------------------
# Written at install time: its prefix is where this install goes (cmake --install --prefix,
# CPack's /usr), not the configured CMAKE_INSTALL_PREFIX.
function(urpc_pc_modules out_var)
  set(out)
  foreach(m ${ARGN})
    string(REGEX REPLACE "([<>=]+)" " \\1 " m "${m}") # libnghttp2>=1.52 -> libnghttp2 >= 1.52
    list(APPEND out "${m}")
  endforeach()
  list(JOIN out ", " out)
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
urpc_pc_modules(URPC_PC_REQUIRES ${URPC_PUBLIC_MODULES})
urpc_pc_modules(URPC_PC_REQUIRES_PRIVATE ${URPC_PRIVATE_MODULES})
set(URPC_PC_LIBS_PRIVATE)
foreach(lib ${URPC_PRIVATE_LIBS})
  string(APPEND URPC_PC_LIBS_PRIVATE "-l${lib} ")
endforeach()
string(APPEND URPC_PC_LIBS_PRIVATE "-lpthread")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(URPC_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(URPC_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(URPC_PC_PREFIX "@CMAKE_INSTALL_PREFIX@") # filled in at install time
configure_file(${CMAKE_SOURCE_DIR}/cmake/uringrpc.pc.in ${CMAKE_BINARY_DIR}/uringrpc.pc.in @ONLY)
# file(INSTALL) honours DESTDIR and the install manifest as install(FILES) does; the file is
# written apart per prefix, so that installs running at once cannot mix their prefixes.
install(CODE "
  string(MD5 key \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  set(pc \"${CMAKE_BINARY_DIR}/pkgconfig/\${key}/uringrpc.pc\")
  configure_file(\"${CMAKE_BINARY_DIR}/uringrpc.pc.in\" \"\${pc}\" @ONLY)
  set(libdir \"${CMAKE_INSTALL_LIBDIR}\")
  if(NOT IS_ABSOLUTE \"\${libdir}\")
    set(libdir \"\${CMAKE_INSTALL_PREFIX}/\${libdir}\")
  endif()
  file(INSTALL DESTINATION \"\${libdir}/pkgconfig\" TYPE FILE FILES \"\${pc}\")
  " COMPONENT dev)

# ---- CMake package ------------------------------------------------------------------------
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/uringrpcConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/uringrpcConfig.cmake
                              INSTALL_DESTINATION ${URPC_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/uringrpcConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/uringrpcConfig.cmake
              ${CMAKE_BINARY_DIR}/uringrpcConfigVersion.cmake
              ${CMAKE_SOURCE_DIR}/cmake/uringrpcProtos.cmake
        DESTINATION ${URPC_CMAKE_INSTALL_DIR} COMPONENT dev)
