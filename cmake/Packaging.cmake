# The man page, installed with the runtime component (cmake/Library.cmake).

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
