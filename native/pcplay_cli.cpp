// pcplay: the command-line front end. Thin: parsing, files, printing; the
// work is done by core/.
#include <malloc.h>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace pcplay::cli;
  // glibc gives blocks over 128 KB (a batch's activations) back to the system
  // when freed and maps them anew, page fault by page fault, when allocated
  // again: a training step that allocates them would spend most of its time
  // in the kernel (with batch 300, an Exact step 75 ms instead of 12). Keep
  // what was freed for reuse.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // (glibc's largest)
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::unique_ptr<MpiJob> job;  // under mpirun (else null): one rank of the job
  try {
    job = MpiJob::join(argc, argv);
  } catch (const pcplay::Error& e) {
    std::fprintf(stderr, "pcplay: error: %s\n", e.what());
    return kExitBadInput;
  }
  if (job && !job->leader() && !std::freopen("/dev/null", "w", stdout)) job->abort(kExitBadInput);  // rank 0 prints
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
