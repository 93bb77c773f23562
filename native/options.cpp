#include "options.h"

namespace pcplay::cli {

void add_inference_options(CLI::App* cmd, ErrType& err, double& eta, int& n) {
  add_choice(cmd, "--err", err, err_types(), "Error type (the algorithm)");
  cmd->add_option("--eta", eta, "Inference step size η")->capture_default_str();
  cmd->add_option("--n", n, "Inference iterations per batch")->capture_default_str();
}

void add_dtype_option(CLI::App* cmd, std::string& dtype, const std::string& help) {
  auto* option = cmd->add_option("--dtype", dtype, help)->check(CLI::IsMember({"float32", "float64"}));
  if (!dtype.empty()) option->capture_default_str();
}

void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "Threads sharing the work (0: one per hardware thread); results are the same "
                  "for any number")->check(CLI::Range(0, 256))->capture_default_str();
}

}  // namespace pcplay::cli
