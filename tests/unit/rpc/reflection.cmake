# The reflection db and the ServerReflection service, over descriptor sets built here from the
# project's protos, grpc's interop protos (Debian's grpc-proto) and refl_ext*.proto (extensions,
# a custom option). Included from tests/unit/rpc/CMakeLists.txt.
urpc_descriptor_set(REFL_TEST_PROJECT_SET refl_test_project_set helloworld.proto example.proto
                    grpc/health/v1/health.proto)
# Debian's grpc-proto when installed, else the project's copy under proto/grpc/testing.
set(REFL_GRPC_PROTO)
if(EXISTS /usr/share/grpc-proto/grpc/testing/test.proto)
  set(REFL_GRPC_PROTO INCLUDE_DIRS /usr/share/grpc-proto)
endif()
urpc_descriptor_set(REFL_TEST_INTEROP_SET refl_test_interop_set grpc/testing/test.proto
                    ${REFL_GRPC_PROTO})
urpc_descriptor_set(REFL_TEST_EXT_SET refl_test_ext_set refl_ext_more.proto
                    INCLUDE_DIRS ${CMAKE_CURRENT_LIST_DIR})
add_executable(test_rpc_reflection_db test_reflection_db.c ${REFL_TEST_PROJECT_SET}
                                      ${REFL_TEST_INTEROP_SET} ${REFL_TEST_EXT_SET})
target_link_libraries(test_rpc_reflection_db PRIVATE urpc_example_protos PkgConfig::CRITERION)
# Allocation failure injection (failmalloc): the test wraps the allocations of the objects
# linked in statically, the reflection db among them.
target_link_options(test_rpc_reflection_db PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc
                                                   -Wl,--wrap=realloc -Wl,--wrap=free)
add_test(NAME rpc.reflection_db COMMAND test_rpc_reflection_db --jobs 1)
set_tests_properties(rpc.reflection_db PROPERTIES TIMEOUT 120 LABELS "unit;rpc")
