# The man page, and Debian packages made by CPack from the install components (cmake/Library.cmake):
#
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DURPC_TESTS=OFF
#   cmake --build build-deb -j2 && (cd build-deb && cpack -G DEB)
#
#   uringrpc      component "runtime": liburingrpc.so.0, uringrpc-server, its man page; Depends
#                 from dpkg-shlibdeps; a shlibs file and the ldconfig trigger
#   uringrpc-dev  component "dev": headers, liburingrpc.a, the .so link, uringrpc.pc, the CMake
#                 package; Depends on uringrpc (same version) and on the Debian packages that
#                 hold what building against it needs: the pkg-config modules and libraries of
#                 cmake/Library.cmake's lists and the protobuf compilers uringrpc_add_protos runs
#                 (found at configure time with dpkg-query)
#
# tests/packaging/deb-test.sh installs both with apt in a clean Debian container and builds and
# runs examples/out-of-tree against them.

# ---- man page ----------------------------------------------------------------------------
# docs/uringrpc-server.1, compressed as Debian wants it (tests/packaging checks it against --help).
find_program(URPC_GZIP gzip)
set(urpc_man ${CMAKE_SOURCE_DIR}/docs/uringrpc-server.1)
if(URPC_GZIP)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/uringrpc-server.1.gz
                     COMMAND ${URPC_GZIP} -9n -c ${urpc_man} > ${CMAKE_BINARY_DIR}/uringrpc-server.1.gz
                     DEPENDS ${urpc_man} COMMENT "gzip uringrpc-server.1")
  add_custom_target(urpc_man ALL DEPENDS ${CMAKE_BINARY_DIR}/uringrpc-server.1.gz)
  install(FILES ${CMAKE_BINARY_DIR}/uringrpc-server.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT runtime)
else()
  install(FILES ${urpc_man} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
endif()

# ---- Debian packages ------------------------------------------------------------------------
# The Debian package that owns `path`, or "" (not a Debian system, or a file of no package).
function(urpc_deb_package_of out_var path)
  set(pkg "")
  find_program(URPC_DPKG_QUERY dpkg-query)
  if(URPC_DPKG_QUERY AND path)
    get_filename_component(real "${path}" REALPATH)
    foreach(p "${path}" "${real}")
      execute_process(COMMAND ${URPC_DPKG_QUERY} --search "${p}" OUTPUT_VARIABLE out
                      ERROR_QUIET RESULT_VARIABLE rc)
      if(rc EQUAL 0 AND out MATCHES "^([^:,]+)")
        set(pkg "${CMAKE_MATCH_1}")
        break()
      endif()
    endforeach()
  endif()
  set(${out_var} "${pkg}" PARENT_SCOPE)
endfunction()

set(urpc_dev_depends)
set(urpc_dev_unknown)
macro(urpc_dev_depend path version what)
  urpc_deb_package_of(pkg "${path}")
  if(pkg)
    if("${version}" STREQUAL "")
      list(APPEND urpc_dev_depends "${pkg}")
    else()
      list(APPEND urpc_dev_depends "${pkg} (${version})")
    endif()
  else()
    list(APPEND urpc_dev_unknown "${what}")
  endif()
endmacro()
foreach(m ${URPC_PUBLIC_MODULES} ${URPC_PRIVATE_MODULES})
  string(REGEX MATCH "^[^<>=]+" name "${m}")
  string(REGEX MATCH "[<>=]+.*$" version "${m}")
  string(REGEX REPLACE "^([<>=]+)" "\\1 " version "${version}") # >=1.52 -> >= 1.52
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=pcfiledir ${name}
                  OUTPUT_VARIABLE pcdir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  urpc_dev_depend("${pcdir}/${name}.pc" "${version}" "${m}")
endforeach()
foreach(lib ${URPC_PRIVATE_LIBS})
  urpc_dev_depend("${URPC_LIB_${lib}}" "" "-l${lib}")
endforeach()
foreach(tool ${URINGRPC_PROTOC_C} ${URINGRPC_PROTOC} ${PKG_CONFIG_EXECUTABLE})
  urpc_dev_depend("${tool}" "" "${tool}")
endforeach()
list(REMOVE_DUPLICATES urpc_dev_depends)
if(urpc_dev_unknown)
  message(STATUS "uringrpc-dev package: no Debian package found for ${urpc_dev_unknown}; "
                 "its Depends leave them out")
endif()
list(JOIN urpc_dev_depends ", " urpc_dev_depends)

set(CPACK_PACKAGE_NAME uringrpc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "uringrpc")
set(CPACK_PACKAGE_CONTACT "uringrpc maintainers <uringrpc@localhost>")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it before each package's own first
# line, which is the package's synopsis.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON) # uringrpc-dev: Depends uringrpc (= version)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/uringrpc/uringrpc")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME uringrpc)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
string(CONCAT CPACK_DEBIAN_RUNTIME_DESCRIPTION
       "gRPC server framework in C on io_uring - library and server\n"
       "liburingrpc.so.0, a gRPC server library built on io_uring (epoll where io_uring cannot\n"
       "be had), nghttp2, wolfSSL and protobuf-c, and uringrpc-server, which serves its\n"
       "example, health and reflection services.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME uringrpc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${urpc_dev_depends}")
string(CONCAT CPACK_DEBIAN_DEV_DESCRIPTION
       "gRPC server framework in C on io_uring - development files\n"
       "Headers, the static library, uringrpc.pc and the CMake package (find_package(uringrpc):\n"
       "uringrpc::uringrpc, uringrpc::uringrpc_static and uringrpc_add_protos(), which runs\n"
       "protoc-c and embeds the descriptor set for server reflection).")
include(CPack)
