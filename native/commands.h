// The pcplay subcommands. Each adds its options to the app and returns the
// function that runs it; errors are thrown as pcplay::Error and become one
// line on stderr with exit code 2 (see pcplay_cli.cpp).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data_dir.h"
#include "error.h"
#include "mpi_job.h"

namespace pcplay::cli {

// Exit codes: 0 done, 2 bad input or settings, 3 the run diverged, 4 a
// rank of an MPI job hung (mpi_job.h).
constexpr int kExitBadInput = 2;
constexpr int kExitDiverged = 3;
constexpr int kExitJobFailed = 4;

using Command = std::function<int()>;

// A run that went non-finite where the command cannot carry on (exit 3).
struct Diverged : Error {
  using Error::Error;
};


Command add_infer_command(CLI::App& app);
// Under mpirun, `job` is this process's MPI job (else null): train and
// reproduce share each batch among its ranks.
Command add_train_command(CLI::App& app, MpiJob* job = nullptr);
Command add_init_command(CLI::App& app);
Command add_reproduce_command(CLI::App& app, MpiJob* job = nullptr);
Command add_bench_command(CLI::App& app);

// Runs the one subcommand the command line names, from `commands` (name,
// function), as every pcplay front end does: a parse error, bad input or a
// divergence becomes one line on stderr and its exit code. In an MPI job of
// several ranks, a failure ends the whole job (a rank that failed alone would
// leave the others waiting); a line that every rank would print, rank 0 prints.
int run_cli(CLI::App& app, int argc, char** argv, const std::vector<std::pair<std::string, Command>>& commands,
            MpiJob* job = nullptr);

}  // namespace pcplay::cli
