# The WebAssembly build (emcmake cmake ...): Debian's Emscripten, with the
# inputs scripts/setup_web.sh made (Dear ImGui's sources, SDL2 and zlib built
# for wasm). Two variants, one per build tree: single-threaded (the default)
# and threaded (PCPLAY_WEB_THREADS=ON). Both write into PCPLAY_WEB_SITE, the
# static folder a host serves.
option(PCPLAY_WEB_THREADS "The threaded variant (-pthread; needs a cross-origin isolated page)" OFF)
set(PCPLAY_WEB_SITE "${CMAKE_BINARY_DIR}/site" CACHE PATH "The static folder the web build writes")
set(PCPLAY_IMGUI_SOURCE_DIR "" CACHE PATH "Dear ImGui's sources (imgui.cpp, backends/)")
set(PCPLAY_WASM_SDL2 "" CACHE PATH "Prefix of the variant's wasm SDL2 (lib/cmake/SDL2)")
set(PCPLAY_WASM_ZLIB "" CACHE PATH "Prefix of the variant's wasm zlib (include/, lib/libz.a)")
set(PCPLAY_WEB_DATA_DIR "" CACHE PATH "Where mnist/ and fashion-mnist/ are; their web subsets are made from it")
foreach(input PCPLAY_IMGUI_SOURCE_DIR PCPLAY_WASM_SDL2 PCPLAY_WASM_ZLIB)
  if(NOT EXISTS "${${input}}")
    message(FATAL_ERROR "${input} is not set or missing: build with scripts/run.sh or scripts/test.sh (build_web in scripts/common.sh)")
  endif()
endforeach()

# wasm SIMD for every target. Eigen 3.4 has no wasm kernels of its own:
# -msse -msse2 make it take its SSE2 ones, which Emscripten's SSE headers
# turn into wasm SIMD; clang's default claim to be GCC 4.2 would make Eigen
# take x86 inline assembly for min and max (a workaround for GCC < 6.3), so
# it claims a later one. C++ exceptions on (Emscripten ignores them by
# default), since every reader reports bad input by throwing. This
# Emscripten ships libc++ for JavaScript-based exceptions only, not for
# -fwasm-exceptions.
add_compile_options(-msimd128 -msse -msse2 -fgnuc-version=5.13 -fexceptions)
add_link_options(-fexceptions)
if(PCPLAY_WEB_THREADS)
  add_compile_options(-pthread)
  add_link_options(-pthread)
endif()

# Header-only libraries from the host. Their targets would add -isystem
# /usr/include, which puts glibc's headers before Emscripten's: expose only
# their own folders, through links in the build tree.
set(host_include "${CMAKE_BINARY_DIR}/host-include")
foreach(dir nlohmann doctest CLI)
  file(MAKE_DIRECTORY "${host_include}")
  if(EXISTS /usr/include/${dir} AND NOT EXISTS "${host_include}/${dir}")
    file(CREATE_LINK /usr/include/${dir} "${host_include}/${dir}" SYMBOLIC)
  endif()
endforeach()
# Eigen's SSE path includes <mmintrin.h> (MMX), which Emscripten's SSE
# headers do not have, so the compiler's x86 one would be found: an empty
# one takes its place (Eigen uses no MMX).
file(WRITE "${host_include}/mmintrin.h" "// MMX: unused by Eigen, absent from Emscripten (cmake/web.cmake)\n#pragma once\n")
add_library(Eigen3::Eigen INTERFACE IMPORTED)
set_target_properties(Eigen3::Eigen PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "/usr/include/eigen3;${host_include}")
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${host_include}")
add_library(doctest::doctest INTERFACE IMPORTED)
set_target_properties(doctest::doctest PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${host_include}"
  INTERFACE_COMPILE_DEFINITIONS DOCTEST_CONFIG_COLORS_NONE)
add_library(CLI11::CLI11 INTERFACE IMPORTED)
set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${host_include}")
add_library(ZLIB::ZLIB STATIC IMPORTED)
set_target_properties(ZLIB::ZLIB PROPERTIES IMPORTED_LOCATION "${PCPLAY_WASM_ZLIB}/lib/libz.a"
  INTERFACE_INCLUDE_DIRECTORIES "${PCPLAY_WASM_ZLIB}/include")

# Dear ImGui from its sources, for WebGL2 (GLES3), with 32-bit draw indices so
# that dense plots fit in one draw call.
add_library(pcplay_imgui STATIC
  ${PCPLAY_IMGUI_SOURCE_DIR}/imgui.cpp ${PCPLAY_IMGUI_SOURCE_DIR}/imgui_draw.cpp
  ${PCPLAY_IMGUI_SOURCE_DIR}/imgui_tables.cpp ${PCPLAY_IMGUI_SOURCE_DIR}/imgui_widgets.cpp
  ${PCPLAY_IMGUI_SOURCE_DIR}/backends/imgui_impl_sdl.cpp ${PCPLAY_IMGUI_SOURCE_DIR}/backends/imgui_impl_opengl3.cpp)
target_include_directories(pcplay_imgui SYSTEM PUBLIC ${PCPLAY_IMGUI_SOURCE_DIR})
target_compile_definitions(pcplay_imgui PUBLIC IMGUI_IMPL_OPENGL_ES3 "ImDrawIdx=unsigned int")
target_compile_options(pcplay_imgui PRIVATE -Os)  # size: the page's budget (js + wasm ≤ 2 MB)
find_package(SDL2 REQUIRED CONFIG PATHS "${PCPLAY_WASM_SDL2}/lib/cmake/SDL2" NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
target_link_libraries(pcplay_imgui PUBLIC SDL2::SDL2-static)
