// pcplay: the command-line front end. Thin: parsing, files, printing; the
// work is done by core/.
#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace pcplay::cli;
  std::unique_ptr<MpiJob> job;  // under mpirun (else null): one rank of the job
  try {
    job = MpiJob::join(argc, argv);
  } catch (const pcplay::Error& e) {
    std::fprintf(stderr, "pcplay: error: %s\n", e.what());
    return kExitBadInput;
  }
  if (job && !job->leader() && !std::freopen("/dev/null", "w", stdout)) return kExitBadInput;  // rank 0 prints
  CLI::App app{"pcplay: predictive coding (Torch2PC's Strict, FixedPred and Exact) in C++", "pcplay"};
  app.set_version_flag("--version", "pcplay 0.1.0");
  return run_cli(app, argc, argv,
                 {{"infer", add_infer_command(app)},
                  {"train", add_train_command(app, job.get())},
                  {"init", add_init_command(app)},
                  {"reproduce", add_reproduce_command(app, job.get())},
                  {"bench", add_bench_command(app)}},
                 job.get());
}
