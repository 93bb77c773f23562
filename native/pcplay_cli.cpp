// pcplay: the command-line front end. Thin: parsing, files, printing; the
// work is done by core/.
#include "commands.h"

int main(int argc, char** argv) {
  using namespace pcplay::cli;
  CLI::App app{"pcplay: predictive coding (Torch2PC's Strict, FixedPred and Exact) in C++", "pcplay"};
  app.set_version_flag("--version", "pcplay 0.1.0");
  return run_cli(app, argc, argv,
                 {{"infer", add_infer_command(app)},
                  {"train", add_train_command(app)},
                  {"init", add_init_command(app)},
                  {"reproduce", add_reproduce_command(app)},
                  {"bench", add_bench_command(app)}});
}
