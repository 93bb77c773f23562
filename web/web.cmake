# The browser shell and the static site (included from the top CMakeLists.txt
# in an Emscripten build). The single-threaded tree writes pcplay-st.{js,wasm}
# and the page, its script, the tutorial and the data subsets; the threaded
# tree writes pcplay-mt.{js,wasm,worker.js} into the same folder.
set(web_dir ${CMAKE_CURRENT_SOURCE_DIR}/web)
if(PCPLAY_WEB_THREADS)
  set(web_name pcplay-mt)
else()
  set(web_name pcplay-st)
endif()
add_executable(pcplay_web web/main.cpp ui/sdl_frame.cpp)
target_link_libraries(pcplay_web PRIVATE pcplay_ui nlohmann_json::nlohmann_json)
set_target_properties(pcplay_web PROPERTIES OUTPUT_NAME ${web_name} SUFFIX .js
  RUNTIME_OUTPUT_DIRECTORY ${PCPLAY_WEB_SITE})
target_link_options(pcplay_web PRIVATE
  -sMIN_WEBGL_VERSION=2 -sMAX_WEBGL_VERSION=2
  -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=64MB -sMAXIMUM_MEMORY=2GB
  -sENVIRONMENT=web,worker
  "-sEXPORTED_RUNTIME_METHODS=['ccall','UTF8ToString','FS']"
  -sFORCE_FILESYSTEM=1)
if(PCPLAY_WEB_THREADS)
  # Workers made ready before main(): the training thread, and the pool that
  # splits each step across the machine's other threads (one per
  # navigator.hardwareConcurrency in all), started from the training thread.
  # Memory growth with threads slows JavaScript-side heap access only, which this page hardly does.
  target_link_options(pcplay_web PRIVATE "-sPTHREAD_POOL_SIZE=navigator.hardwareConcurrency+1" -Wno-pthreads-mem-growth)
endif()

# `pcplay bench` for node, the same command as the native one, so that
# bench/wasm_vs_native.cjs can compare this variant's training speed with the
# native build's: build/web/<variant>/bench/pcplay-bench-<variant>.js.
add_executable(pcplay_bench bench/wasm_bench_main.cpp native/bench_command.cpp native/run_cli.cpp native/options.cpp
  native/mpi_job.cpp)  # (one process: the build without MPI)
target_include_directories(pcplay_bench PRIVATE native)
target_link_libraries(pcplay_bench PRIVATE pcplay_core nlohmann_json::nlohmann_json CLI11::CLI11)
set_target_properties(pcplay_bench PROPERTIES OUTPUT_NAME ${web_name}-bench SUFFIX .js
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
target_link_options(pcplay_bench PRIVATE -sENVIRONMENT=node -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=2GB
  -sEXIT_RUNTIME=1)
if(PCPLAY_WEB_THREADS)
  # main() on a worker, so that it may wait for the pool's threads.
  target_link_options(pcplay_bench PRIVATE -sPROXY_TO_PTHREAD -sPTHREAD_POOL_SIZE=4 -Wno-pthreads-mem-growth)
endif()

if(NOT PCPLAY_WEB_THREADS)
  # The page, its script and the tutorial, copied as they are.
  foreach(file index.html pcplay.css pcplay-api.js examples/tutorial.html examples/tutorial.css examples/tutorial.js
               examples/depth.html examples/depth.js examples/figure.js examples/frame.js)
    configure_file(${web_dir}/${file} ${PCPLAY_WEB_SITE}/${file} COPYONLY)
  endforeach()
  # MNIST and Fashion-MNIST subsets (gzip'd IDX), made from the installed data.
  if(PCPLAY_WEB_DATA_DIR)
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
    set(subsets)
    foreach(set mnist fashion-mnist)
      set(out ${PCPLAY_WEB_SITE}/data/${set})
      add_custom_command(OUTPUT ${out}/train-images-idx3-ubyte.gz
        COMMAND ${Python3_EXECUTABLE} ${web_dir}/make_data.py ${PCPLAY_WEB_DATA_DIR}/${set} ${out} 5000 1000
        DEPENDS ${web_dir}/make_data.py
        COMMENT "Making the web subset of ${set}")
      list(APPEND subsets ${out}/train-images-idx3-ubyte.gz)
    endforeach()
    add_custom_target(pcplay_web_data ALL DEPENDS ${subsets})
  endif()
endif()
