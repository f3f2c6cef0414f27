# Build-time protobuf descriptors for server reflection.
#
# urpc_descriptor_set(<out_c_var> <symbol> <proto>... [INCLUDE_DIRS <dir>...])
#   Runs `protoc --include_imports --descriptor_set_out=<build>/<symbol>.pb` over the protos
#   (paths relative to one of INCLUDE_DIRS or to proto/, searched in that order, imports too:
#   -I<INCLUDE_DIRS>... -I<proto/>; protoc adds its own google/protobuf/) and turns the
#   set into <build>/<symbol>.c defining
#     const unsigned char <symbol>[];  const size_t <symbol>_len;
#   Its path is returned in <out_c_var>, to add to a target's sources. The .c is written by this
#   same file run as a script (cmake -P), reading the set as HEX: no xxd needed.
#   Rebuilt when a listed proto changes; imported protos are not tracked (protoc writes a
#   dependency file for a single input only).
#
# urpc_protoc_c_from(<out_var> <include_dir> <proto>...)
#   Like urpc_protoc_c, for protos outside proto/ (e.g. google/protobuf/descriptor.proto from
#   /usr/include); generated C goes to the same place (URPC_GEN_DIR).

# Script mode: cmake -DURPC_EMBED_IN=<set> -DURPC_EMBED_OUT=<c> -DURPC_EMBED_SYMBOL=<sym> -P <this>
if(CMAKE_SCRIPT_MODE_FILE AND DEFINED URPC_EMBED_SYMBOL)
  file(READ "${URPC_EMBED_IN}" hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR size "${digits} / 2")
  if(size EQUAL 0)
    set(bytes "0") # C has no empty initializer list before C23; the length stays 0
  else()
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(REPEAT "0x..," 16 line) # CMake regexes have no {n}
    string(REGEX REPLACE "(${line})" "\\1\n  " bytes "${bytes}")
  endif()
  file(WRITE "${URPC_EMBED_OUT}"
       "/* Generated from ${URPC_EMBED_IN} by DescriptorSet.cmake; do not edit. */\n"
       "#include <stddef.h>\n\n"
       "extern const unsigned char ${URPC_EMBED_SYMBOL}[];\n"
       "extern const size_t ${URPC_EMBED_SYMBOL}_len;\n"
       "const unsigned char ${URPC_EMBED_SYMBOL}[] = {\n  ${bytes}\n};\n"
       "const size_t ${URPC_EMBED_SYMBOL}_len = ${size};\n")
  return()
endif()

find_program(URPC_PROTOC protoc REQUIRED)
set(URPC_DESCRIPTOR_SET_SCRIPT ${CMAKE_CURRENT_LIST_FILE})

function(urpc_descriptor_set out_c_var symbol)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "" "" "INCLUDE_DIRS")
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "urpc_descriptor_set(${symbol}): no proto given")
  endif()
  set(dirs ${ARG_INCLUDE_DIRS} ${URPC_PROTO_DIR})
  set(includes)
  foreach(d ${dirs})
    list(APPEND includes -I${d})
  endforeach()
  # protoc maps an absolute input back to its name under an -I directory; absolute paths also
  # give the custom command real dependencies.
  set(inputs)
  foreach(p ${ARG_UNPARSED_ARGUMENTS})
    set(found)
    foreach(d ${dirs})
      if(EXISTS ${d}/${p})
        set(found ${d}/${p})
        break()
      endif()
    endforeach()
    if(NOT found)
      message(FATAL_ERROR "urpc_descriptor_set(${symbol}): ${p} is in none of ${dirs}")
    endif()
    list(APPEND inputs ${found})
  endforeach()
  set(pb ${CMAKE_CURRENT_BINARY_DIR}/${symbol}.pb)
  set(c ${CMAKE_CURRENT_BINARY_DIR}/${symbol}.c)
  add_custom_command(OUTPUT ${pb} ${c}
    COMMAND ${URPC_PROTOC} ${includes} --include_imports --descriptor_set_out=${pb} ${inputs}
    COMMAND ${CMAKE_COMMAND} -DURPC_EMBED_IN=${pb} -DURPC_EMBED_OUT=${c}
            -DURPC_EMBED_SYMBOL=${symbol} -P ${URPC_DESCRIPTOR_SET_SCRIPT}
    DEPENDS ${inputs} ${URPC_DESCRIPTOR_SET_SCRIPT}
    COMMENT "Descriptor set ${symbol}"
    VERBATIM)
  set(${out_c_var} ${c} PARENT_SCOPE)
endfunction()

function(urpc_protoc_c_from out_var include_dir)
  set(srcs)
  foreach(p ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" base ${p})
    set(c ${URPC_GEN_DIR}/${base}.pb-c.c)
    set(h ${URPC_GEN_DIR}/${base}.pb-c.h)
    add_custom_command(OUTPUT ${c} ${h}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${URPC_GEN_DIR}
      COMMAND ${PROTOC_C} -I${include_dir} --c_out=${URPC_GEN_DIR} ${include_dir}/${p}
      DEPENDS ${include_dir}/${p}
      VERBATIM)
    list(APPEND srcs ${c})
  endforeach()
  set(${out_var} ${srcs} PARENT_SCOPE)
endfunction()
