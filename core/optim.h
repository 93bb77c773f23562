// Optimizers with PyTorch 1.13's semantics (torch.optim.SGD and Adam,
// single-tensor path). step() reads each parameter's grad.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model.h"
#include "names.h"

namespace pcplay {

enum class OptimizerKind { Adam, SGD };
const std::vector<Named<OptimizerKind>>& optimizer_kinds();  // "adam", "sgd"
OptimizerKind parse_optimizer(const std::string& name);     // any case; throws Error
std::string optimizer_name(OptimizerKind kind);

// The learning rate a run takes unless told (the CLI, the playground): at
// 0.01 Strict's relaxation at η = 0.1 turns unstable on the toy sets as the
// weights grow (its energy rose in ~40 % of the steps).
constexpr double kDefaultLearningRate = 0.003;

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double lr = kDefaultLearningRate;
  double momentum = 0;      // sgd
  double dampening = 0;     // sgd
  bool nesterov = false;    // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
  double weight_decay = 0;  // both: L2 penalty added to the gradient
};

void check_optimizer_config(const OptimizerConfig& config);  // throws Error

// What an optimizer carries from one step to the next, named as PyTorch's
// optimizer state_dict names it: Adam's "step" count and its "exp_avg" and
// "exp_avg_sq" per parameter, SGD's "momentum_buffer" per parameter. A
// checkpoint keeps it; set_state continues exactly where state() was taken.
template <typename T>
struct OptimizerState {
  long steps = 0;
  std::vector<std::string> slot_names;
  std::vector<std::vector<Tensor<T>>> slots;  // [slot][parameter]; empty before the first step
};

template <typename T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step(const std::vector<NamedParam<T>>& params) = 0;
  virtual OptimizerState<T> state() const = 0;
  // Throws Error when `state` does not fit these parameters.
  virtual void set_state(const OptimizerState<T>& state, const std::vector<NamedParam<T>>& params) = 0;
  // The learning rate can change mid-run without resetting any state.
  double lr = kDefaultLearningRate;
};

template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerConfig& config);

}  // namespace pcplay
