// What every pcplay command line does around its subcommand: parse, run,
// and turn each kind of failure into one line and its exit code.
#include <cstdio>
#include <new>

#include "commands.h"

namespace pcplay::cli {

namespace {

// One line on stderr and the exit code. In an MPI job of several ranks the
// job ends here, the failure told once (MpiJob::fail).
int fail(MpiJob* job, const std::string& where, const std::string& line, int code) {
  if (job && job->size() > 1) job->fail(where, line, code);
  std::fprintf(stderr, "%s: %s\n", where.c_str(), line.c_str());
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
