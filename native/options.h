// The options several commands share, declared once: the error type and its
// η and n, the precision and the threads. Choices come from core's lists.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "names.h"
#include "pc_infer.h"

namespace pcplay::cli {

// An option whose value is one of core's named lists (any case), its help
// listing the names. (A name becomes its enum's number, which is how CLI11
// reads an enum; numbers typed in are refused.)
template <typename E>
CLI::Option* add_choice(CLI::App* cmd, const std::string& flag, E& value, const std::vector<Named<E>>& list,
                        const std::string& help) {
  std::string names;
  for (const Named<E>& n : list) names += (names.empty() ? "" : ",") + std::string(n.name);
  const CLI::Validator by_name(
      [list](std::string& text) {
        const Named<E>* n = find_named(list, text);
        if (!n) return "\"" + text + "\" is not " + name_list(names_of(list));
        text = std::to_string(static_cast<int>(n->value));
        return std::string();
      },
      "{" + names + "}");
  return cmd->add_option(flag, value, help)->transform(by_name)->default_str(named(list, value).name);
}

// --err, --eta, --n.
void add_inference_options(CLI::App* cmd, ErrType& err, double& eta, int& n);
// --dtype float32 | float64.
void add_dtype_option(CLI::App* cmd, std::string& dtype, const std::string& help = "Precision");
// --threads N (0: one per hardware thread).
void add_threads_option(CLI::App* cmd, int& threads);

}  // namespace pcplay::cli
