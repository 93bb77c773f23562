# Whether the native build (PCPLAY_NATIVE_ARCH) keeps AVX-512: only where
# this CPU's 512-bit multiply-adds do about twice the work of its 256-bit
# ones. cmake/avx512_probe.cpp measures it once per build directory (a
# second of the configure) and the answer is cached: PCPLAY_AVX512 (ON/OFF)
# overrides it. docs/performance.md has the measurements behind the rule:
# on a Zen 5 EPYC (ratio 1.8–1.9) AVX-512 made Strict and ePC 10 % faster and
# paper-cifar's convolutions 2×, Exact 12 % slower; on the earlier EPYC
# (512-bit instructions in two halves) it made Strict 30 % slower.
set(PCPLAY_AVX512_MIN_RATIO 1.4)
if(NOT DEFINED PCPLAY_AVX512)
  try_run(probe_ran probe_built "${CMAKE_BINARY_DIR}/avx512_probe" "${CMAKE_CURRENT_LIST_DIR}/avx512_probe.cpp"
          COMPILE_DEFINITIONS -O2
          COMPILE_OUTPUT_VARIABLE probe_build_log RUN_OUTPUT_VARIABLE probe_ratio)
  string(STRIP "${probe_ratio}" probe_ratio)
  if(probe_built AND probe_ran EQUAL 0 AND probe_ratio MATCHES "^[0-9.]+$")
    if(probe_ratio GREATER_EQUAL PCPLAY_AVX512_MIN_RATIO)
      set(avx512 ON)
    else()
      set(avx512 OFF)
    endif()
    message(STATUS "AVX-512 multiply-add throughput / AVX2's: ${probe_ratio} (keep AVX-512 from ${PCPLAY_AVX512_MIN_RATIO}): ${avx512}")
  else()
    set(avx512 OFF)
    message(STATUS "AVX-512 probe did not run: AVX-512 left out")
  endif()
  set(PCPLAY_AVX512 ${avx512} CACHE BOOL "Native build: use AVX-512 (measured by cmake/avx512_probe.cpp)")
endif()
