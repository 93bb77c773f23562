#include "optim.h"

#include <cmath>

#include "error.h"

namespace pcplay {

const std::vector<Named<OptimizerKind>>& optimizer_kinds() {
  static const std::vector<Named<OptimizerKind>> kinds = {{OptimizerKind::Adam, "adam", "Adam"},
                                                          {OptimizerKind::SGD, "sgd", "SGD"}};
  return kinds;
}

OptimizerKind parse_optimizer(const std::string& name) { return parse_named(optimizer_kinds(), name, "optimizer"); }
std::string optimizer_name(OptimizerKind kind) { return named(optimizer_kinds(), kind).name; }

void check_optimizer_config(const OptimizerConfig& c) {
  if (!std::isfinite(c.lr) || c.lr < 0) throw Error("the learning rate must be a non-negative number");
  if (!(c.momentum >= 0 && c.momentum < 1e6) || !(c.weight_decay >= 0 && c.weight_decay < 1e6))
    throw Error("momentum and weight decay must be non-negative numbers");
  if (c.nesterov && (c.momentum <= 0 || c.dampening != 0)) throw Error("nesterov needs momentum > 0 and dampening 0");
  if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) throw Error("adam betas must lie in [0, 1)");
  if (!(c.eps >= 0 && std::isfinite(c.eps))) throw Error("adam eps must be a non-negative number");
}

namespace {

// Checks a state's slots against the parameters (each slot holds one tensor
// per parameter, of its shape, or nothing before the first step).
template <typename T>
void check_state(const OptimizerState<T>& state, const std::vector<std::string>& names,
                 const std::vector<NamedParam<T>>& params) {
  if (state.slot_names != names || state.slots.size() > names.size())
    throw Error("the optimizer state is not this optimizer's");
  if (state.steps < 0) throw Error("the optimizer state has a negative step count");
  for (size_t k = 0; k < state.slots.size(); ++k) {
    if (state.slots[k].empty()) continue;
    if (state.slots[k].size() != params.size()) throw Error("the optimizer state has " + std::to_string(state.slots[k].size()) + " " + names[k] + " tensors for " + std::to_string(params.size()) + " parameters");
    for (size_t i = 0; i < params.size(); ++i)
      if (state.slots[k][i].shape() != params[i].param->value.shape())
        throw Error("the optimizer's " + names[k] + " of " + params[i].name + " has shape " +
                    shape_str(state.slots[k][i].shape()) + ", not the parameter's " +
                    shape_str(params[i].param->value.shape()));
  }
}

// SGD:  d = g + wd·p;  buf = d (first step) or momentum·buf + (1 − dampening)·d;
//       d = d + momentum·buf (nesterov) or buf;  p −= lr·d
template <typename T>
class SGD final : public Optimizer<T> {
 public:
  explicit SGD(const OptimizerConfig& c) : config_(c) { this->lr = c.lr; }
  void step(const std::vector<NamedParam<T>>& params) override {
    if (buffers_.empty()) buffers_.resize(params.size());
    const T wd = static_cast<T>(config_.weight_decay), mu = static_cast<T>(config_.momentum);
    const T lr = static_cast<T>(this->lr), keep = static_cast<T>(1 - config_.dampening);
    for (size_t i = 0; i < params.size(); ++i) {
      auto p = params[i].param->value.array();
      const auto grad = params[i].param->grad.array();
      // d is an expression, not a copy: iPC steps at every inference
      // iteration, and a step allocates nothing once the buffers exist.
      auto update = [&](const auto& d) {
        if (mu == 0) return void(p -= lr * d);
        Tensor<T>& buf = buffers_[i];
        if (!buf.defined()) {
          buf.resize(params[i].param->grad.shape());
          buf.array() = d;
        } else {
          buf.array() = mu * buf.array() + keep * d;
        }
        if (config_.nesterov)
          p -= lr * (d + mu * buf.array());
        else
          p -= lr * buf.array();
      };
      if (wd != 0)
        update(grad + wd * p);
      else
        update(grad);
    }
  }

  OptimizerState<T> state() const override {
    OptimizerState<T> st;
    st.slot_names = {"momentum_buffer"};
    if (!buffers_.empty() && buffers_[0].defined()) st.slots = {buffers_};  // none without momentum
    return st;
  }
  void set_state(const OptimizerState<T>& st, const std::vector<NamedParam<T>>& params) override {
    check_state(st, {"momentum_buffer"}, params);
    buffers_ = st.slots.empty() ? std::vector<Tensor<T>>() : st.slots[0];
  }

 private:
  OptimizerConfig config_;
  std::vector<Tensor<T>> buffers_;
};

// Adam:  m = β1·m + (1 − β1)·g;  s = β2·s + (1 − β2)·g²;
//        p −= (lr / (1 − β1^t)) · m / (√s / √(1 − β2^t) + eps)
template <typename T>
class Adam final : public Optimizer<T> {
 public:
  explicit Adam(const OptimizerConfig& c) : config_(c) { this->lr = c.lr; }
  void step(const std::vector<NamedParam<T>>& params) override {
    if (m_.empty()) {
      for (const auto& np : params) {
        m_.emplace_back(np.param->value.shape());
        s_.emplace_back(np.param->value.shape());
      }
    }
    ++t_;
    const double bias1 = 1 - std::pow(config_.beta1, t_), bias2 = 1 - std::pow(config_.beta2, t_);
    const T step_size = static_cast<T>(this->lr / bias1), bias2_sqrt = static_cast<T>(std::sqrt(bias2));
    const T b1 = static_cast<T>(config_.beta1), b2 = static_cast<T>(config_.beta2);
    const T wd = static_cast<T>(config_.weight_decay), eps = static_cast<T>(config_.eps);
    for (size_t i = 0; i < params.size(); ++i) {
      auto p = params[i].param->value.array();
      const auto grad = params[i].param->grad.array();
      auto m = m_[i].array();
      auto s = s_[i].array();
      // g is an expression, not a copy (no allocation in iPC's loop).
      auto update = [&](const auto& g) {
        m = b1 * m + static_cast<T>(1 - config_.beta1) * g;
        // In PyTorch's order: addcmul (s·β2 + ((1 − β2)·g)·g), then addcdiv
        // (p + (−step)·(m / denom)); float32 results then match to the bit more often.
        s = b2 * s + (static_cast<T>(1 - config_.beta2) * g) * g;
        p += (-step_size) * (m / (s.sqrt() / bias2_sqrt + eps));
      };
      if (wd != 0)
        update(grad + wd * p);
      else
        update(grad);
    }
  }

  OptimizerState<T> state() const override {
    OptimizerState<T> st;
    st.steps = t_;
    st.slot_names = {"exp_avg", "exp_avg_sq"};
    st.slots = {m_, s_};
    return st;
  }
  void set_state(const OptimizerState<T>& st, const std::vector<NamedParam<T>>& params) override {
    check_state(st, {"exp_avg", "exp_avg_sq"}, params);
    if (st.slots.size() != 2 || st.slots[0].size() != st.slots[1].size())
      throw Error("the Adam state needs exp_avg and exp_avg_sq for every parameter");
    m_ = st.slots[0];
    s_ = st.slots[1];
    t_ = st.steps;
  }

 private:
  OptimizerConfig config_;
  std::vector<Tensor<T>> m_, s_;
  long t_ = 0;
};

}  // namespace

template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimizerConfig& config) {
  check_optimizer_config(config);
  if (config.kind == OptimizerKind::SGD) return std::make_unique<SGD<T>>(config);
  return std::make_unique<Adam<T>>(config);
}

template std::unique_ptr<Optimizer<float>> make_optimizer<float>(const OptimizerConfig&);
template std::unique_ptr<Optimizer<double>> make_optimizer<double>(const OptimizerConfig&);

}  // namespace pcplay
