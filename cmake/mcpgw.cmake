# mcpgw_add_library(NAME SOURCES... DEPS ...): one static library per area with an mcpgw:: alias.
function(mcpgw_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mcpgw_${name} STATIC ${ARG_SOURCES})
  add_library(mcpgw::${name} ALIAS mcpgw_${name})
  target_include_directories(mcpgw_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(mcpgw_${name} PRIVATE ${MCPGW_WARNINGS})
  target_link_libraries(mcpgw_${name} PUBLIC ${ARG_DEPS})
endfunction()
