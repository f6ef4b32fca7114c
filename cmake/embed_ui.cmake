# Writes the dashboard's static files (src/downstream/ui) into a C++ source as raw string
# literals, so the binary serves them with nothing installed beside it.
# Run at build time: cmake -DUI_DIR=<dir> -DOUT=<file.cpp> -P embed_ui.cmake
set(assets
  "/ui|index.html|text/html"
  "/ui/app.js|app.js|text/javascript"
  "/ui/style.css|style.css|text/css"
  "/ui/icon.svg|icon.svg|image/svg+xml")
set(delim "mcpgw_ui")
set(body "// Generated from src/downstream/ui by cmake/embed_ui.cmake: edit those files.\n")
string(APPEND body "#include \"downstream/ui_assets.hpp\"\n\nnamespace mcpgw::downstream {\n\n")
string(APPEND body "namespace {\nconstexpr UiAsset kAssets[] = {\n")
foreach(asset IN LISTS assets)
  string(REPLACE "|" ";" parts "${asset}")
  list(GET parts 0 path)
  list(GET parts 1 file)
  list(GET parts 2 type)
  file(READ "${UI_DIR}/${file}" text)
  string(FIND "${text}" ")${delim}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw string delimiter )${delim}\"")
  endif()
  string(APPEND body "    {\"${path}\", \"${type}; charset=utf-8\",\n     R\"${delim}(${text})${delim}\"},\n")
endforeach()
string(APPEND body "};\n}  // namespace\n\n")
string(APPEND body "std::span<const UiAsset> ui_assets() noexcept { return kAssets; }\n\n")
string(APPEND body "}  // namespace mcpgw::downstream\n")
# Rewrite only on a change, so an unchanged UI does not rebuild what includes it.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${body}")
  file(WRITE "${OUT}" "${body}")
endif()
