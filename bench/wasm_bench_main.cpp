// `pcplay bench` compiled to WebAssembly and run by node: the same command
// and the same JSON line as the native one, so that bench/wasm_vs_native.cjs
// can set the browser builds' training speed beside the native build's.
//   node pcplay-bench-st.js bench --err fixedpred --threads 1 --json
#include "commands.h"

int main(int argc, char** argv) {
  using namespace pcplay::cli;
  CLI::App app{"pcplay bench, compiled to WebAssembly", "pcplay-bench"};
  return run_cli(app, argc, argv, {{"bench", add_bench_command(app)}});
}
