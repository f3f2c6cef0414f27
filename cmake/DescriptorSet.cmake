# The source tree's names for cmake/uringrpcProtos.cmake (the implementation the installed CMake
# package ships too). Generated C goes to one directory, URPC_GEN_DIR; protos are named relative
# to proto/ (URPC_PROTO_DIR) unless said otherwise.
#
# urpc_protoc_c(<out_var> <proto relative to proto/>...)            (defined at the top level)
# urpc_protoc_c_from(<out_var> <include_dir> <proto>...)
#   protoc-c -I<include_dir> into URPC_GEN_DIR, e.g. google/protobuf/descriptor.proto from
#   /usr/include; <out_var> gets the generated .c files.
# urpc_descriptor_set(<out_c_var> <symbol> <proto>... [INCLUDE_DIRS <dir>...])
#   `protoc --include_imports --descriptor_set_out` over the protos (relative to one of
#   INCLUDE_DIRS or to proto/, searched in that order; -I the same) embedded in
#   <build>/<symbol>.c as `const unsigned char <symbol>[]; const size_t <symbol>_len;`.
include(${CMAKE_CURRENT_LIST_DIR}/uringrpcProtos.cmake)

function(urpc_protoc_c_from out_var include_dir)
  uringrpc_protoc_c(srcs PROTOS ${ARGN} IMPORT_DIRS ${include_dir} OUT_DIR ${URPC_GEN_DIR})
  set(${out_var} ${srcs} PARENT_SCOPE)
endfunction()

function(urpc_descriptor_set out_c_var symbol)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "" "" "INCLUDE_DIRS")
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "urpc_descriptor_set(${symbol}): no proto given")
  endif()
  uringrpc_descriptor_set(c SYMBOL ${symbol} PROTOS ${ARG_UNPARSED_ARGUMENTS}
                          IMPORT_DIRS ${ARG_INCLUDE_DIRS} ${URPC_PROTO_DIR})
  set(${out_c_var} ${c} PARENT_SCOPE)
endfunction()
