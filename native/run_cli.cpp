// What every pcplay command line does around its subcommand: parse, run,
// and turn each kind of failure into one line and its exit code.
#include <cstdio>
#include <new>

#include "commands.h"

namespace pcplay::cli {

int run_cli(CLI::App& app, int argc, char** argv, const std::vector<std::pair<std::string, Command>>& commands) {
  app.require_subcommand(1, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string where = app.get_subcommands().empty() ? app.get_name() : app.get_name() + " " + app.get_subcommands()[0]->get_name();
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", where.c_str(), e.what(), where.c_str());
    return kExitBadInput;
  }
  const std::string name = app.get_subcommands()[0]->get_name();
  const std::string where = app.get_name() + " " + name;
  try {
    for (const auto& [command_name, command] : commands)
      if (command_name == name) return command();
    throw Error("unknown command " + name);
  } catch (const Diverged& e) {
    std::fprintf(stderr, "%s: %s\n", where.c_str(), e.what());
    return kExitDiverged;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", where.c_str(), e.what());
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", where.c_str());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", where.c_str(), e.what());
    return kExitBadInput;
  }
}

}  // namespace pcplay::cli
