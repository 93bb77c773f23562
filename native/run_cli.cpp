// What every pcplay command line does around its subcommand: parse, run,
// and turn each kind of failure into one line and its exit code.
#include <chrono>
#include <cstdio>
#include <new>
#include <thread>

#include "commands.h"

namespace pcplay::cli {

namespace {

// One line on stderr and the exit code. In an MPI job of several ranks the
// job ends here; the other ranks wait a moment first, so that a failure every
// rank meets (a bad option, a missing file) is told once, by rank 0, whose
// abort ends them before they print.
int fail(MpiJob* job, const std::string& where, const std::string& line, int code) {
  const bool shared = job && job->size() > 1;
  if (shared && !job->leader()) std::this_thread::sleep_for(std::chrono::seconds(1));
  const std::string rank = shared && !job->leader() ? " (rank " + std::to_string(job->rank()) + ")" : "";
  std::fprintf(stderr, "%s%s: %s\n", where.c_str(), rank.c_str(), line.c_str());
  if (shared) job->abort(code);
  return code;
}

}  // namespace

int run_cli(CLI::App& app, int argc, char** argv, const std::vector<std::pair<std::string, Command>>& commands,
            MpiJob* job) {
  app.require_subcommand(1, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string where = app.get_subcommands().empty() ? app.get_name() : app.get_name() + " " + app.get_subcommands()[0]->get_name();
    return fail(job, where, std::string("error: ") + e.what() + " (see " + where + " --help)", kExitBadInput);
  }
  const std::string name = app.get_subcommands()[0]->get_name();
  const std::string where = app.get_name() + " " + name;
  try {
    if (job && job->size() > 1 && name != "train" && name != "reproduce")
      throw Error("under mpirun only train and reproduce share their work; " + name + " runs as one process");
    for (const auto& [command_name, command] : commands)
      if (command_name == name) return command();
    throw Error("unknown command " + name);
  } catch (const Diverged& e) {
    return fail(job, where, e.what(), kExitDiverged);
  } catch (const Error& e) {
    return fail(job, where, std::string("error: ") + e.what(), kExitBadInput);
  } catch (const std::bad_alloc&) {
    return fail(job, where, "error: out of memory", kExitBadInput);
  } catch (const std::exception& e) {
    return fail(job, where, std::string("error: ") + e.what(), kExitBadInput);
  }
}

}  // namespace pcplay::cli
