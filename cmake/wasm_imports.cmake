# Writes OUT, the Emscripten JS library that names the host functions
# onnx-cle.wasm imports, from their declarations in IN (src/wasm.c: lines
# "IMPORT(name) ..."), so the C declarations are the one list: the linker
# takes these names as imports, and tests/js/abi.test.mjs holds wasm/core.js
# to the module's imports.
#   cmake -DIN=src/wasm.c -DOUT=build/wasm/gen/wasm_imports.js -P cmake/wasm_imports.cmake
file(STRINGS "${IN}" lines REGEX "^IMPORT\\([a-z_0-9]+\\)")
set(body "")
foreach(line IN LISTS lines)
  string(REGEX MATCH "^IMPORT\\(([a-z_0-9]+)\\)" _ "${line}")
  string(APPEND body "  ${CMAKE_MATCH_1}: function () {},\n")
endforeach()
if(body STREQUAL "")
  message(FATAL_ERROR "${IN} declares no IMPORT(name)")
endif()
set(text "// Generated from src/wasm.c by cmake/wasm_imports.cmake: do not edit.
// The host functions onnx-cle.wasm imports (module \"env\"), named so that
// Emscripten links them as imports; wasm/core.js implements them.
mergeInto(LibraryManager.library, {
${body}});
")
# rewritten only when it changes, so the module is not relinked for nothing
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${text}")
