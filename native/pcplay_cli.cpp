// pcplay: the command-line front end. Thin: parsing, files, printing; the
// work is done by core/.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>

#include "commands.h"
#include "error.h"

int main(int argc, char** argv) {
  using namespace pcplay::cli;
  CLI::App app{"pcplay: predictive coding (Torch2PC's Strict, FixedPred and Exact) in C++", "pcplay"};
  app.require_subcommand(1, 1);
  app.set_version_flag("--version", "pcplay 0.1.0");
  Command infer = add_infer_command(app), train = add_train_command(app), init = add_init_command(app),
          reproduce = add_reproduce_command(app), bench = add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = app.get_subcommands().empty() ? "pcplay" : "pcplay " + app.get_subcommands()[0]->get_name();
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", where.c_str(), e.what(), where.c_str());
    return kExitBadInput;
  }
  const std::string name = app.get_subcommands()[0]->get_name();
  try {
    if (name == "infer") return infer();
    if (name == "train") return train();
    if (name == "reproduce") return reproduce();
    if (name == "bench") return bench();
    return init();
  } catch (const Diverged& e) {
    std::fprintf(stderr, "pcplay %s: %s\n", name.c_str(), e.what());
    return kExitDiverged;
  } catch (const pcplay::Error& e) {
    std::fprintf(stderr, "pcplay %s: error: %s\n", name.c_str(), e.what());
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "pcplay %s: error: out of memory\n", name.c_str());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pcplay %s: error: %s\n", name.c_str(), e.what());
    return kExitBadInput;
  }
}
