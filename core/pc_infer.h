// PCInfer: Torch2PC's predictive-coding inference, as stated in
// shared/spec/torch2pc-semantics.md. Lists are indexed 0..L:
//   vhat  feed-forward activations (vhat[0] = X)
//   v     beliefs
//   eps   prediction errors
// A list entry that an error type leaves undefined (Torch2PC's None) is a
// default-constructed Tensor (defined() is false).
//
// PCInference holds the state of one relaxation so that front ends can step
// it one inference iteration at a time; pc_infer() runs it to the end.
#pragma once

#include <string>
#include <vector>

#include "model.h"

namespace pcplay {

enum class ErrType { Strict, FixedPred, Exact };

ErrType parse_err_type(const std::string& name);  // strict | fixedpred | exact (any case)
std::string err_type_name(ErrType err);             // "strict", "fixedpred", "exact"

// What one inference iteration left, for plots: energy and each layer's ‖eps‖
// (Frobenius over the batch; NaN where eps is undefined).
//   Strict:    energy = ½ Σ_{l<L} ‖f_l(v_{l-1}) − v_l‖² + Loss(f_L(v_{L-1}), Y),
//              the function the Strict sweep descends, at the beliefs the
//              iteration's eps were computed from;
//   FixedPred: energy = ½ Σ_{l<L} ‖v̂_l − v_l‖² + Loss(v̂_L, Y).
struct SweepStats {
  int iteration = 0;
  double energy = 0;
  std::vector<double> eps_norm;
};

// Where non-finite values first appeared, if they did.
struct Divergence {
  bool diverged = false;
  int iteration = 0;  // 1-based inference iteration (0: the forward pass)
  Index layer = 0;
  std::string describe() const;  // "eps_2 became non-finite at inference iteration 17"
};

template <typename T>
class PCInference {
 public:
  PCInference(Model<T>& model, ErrType err, T eta);

  // Forward pass and initial beliefs: v = v̂, or for Strict and FixedPred the
  // given vinit (entries 1..L-1 that are defined replace v̂; v_0 stays X).
  // Exact computes everything here: eps = backprop errors, and gradients.
  void start(const Tensor<T>& X, const Targets<T>& Y, const std::vector<Tensor<T>>* vinit = nullptr);
  // One inference iteration (a synchronous sweep over the layers). Stops
  // changing anything once the state has diverged.
  void sweep();
  // Overwrites every parameter's grad with Jθ_l(·)^T eps_l.
  void set_gradients();

  SweepStats stats() const;
  int iterations() const { return iterations_; }
  const Divergence& divergence() const { return divergence_; }

  ErrType err;
  T eta;
  // Torch2PC's return values.
  std::vector<Tensor<T>> vhat, v, eps;
  T loss = 0;
  Tensor<T> dLdy;

 private:
  void start_exact();
  void sweep_fixedpred();
  void sweep_strict();
  void check_finite();

  Model<T>& model_;
  const Targets<T>* Y_ = nullptr;
  std::vector<BlockTrace<T>> trace_;  // per block: at v̂ (FixedPred, Exact) or at the beliefs (Strict)
  Tensor<T> vjp_;                     // scratch: J^T eps
  T belief_loss_ = 0;                 // Strict: Loss(f_L(v_{L-1}), Y) in the last sweep
  int iterations_ = 0;
  Divergence divergence_;
};

// The result of pc_infer: Torch2PC's (vhat, Loss, dLdy, v, eps).
template <typename T>
struct PCResult {
  std::vector<Tensor<T>> vhat, v, eps;
  T loss = 0;
  Tensor<T> dLdy;
  Divergence divergence;
};

// Torch2PC's PCInfer: n inference iterations (n >= 1 unless Exact), then every
// parameter gradient of `model` is overwritten. Throws Error on bad arguments
// or shapes. If the feed-forward loss is already non-finite no iteration runs
// and the gradients are left as they were: check `divergence` before using
// them. When `record` is given, it receives the stats of each iteration.
template <typename T>
PCResult<T> pc_infer(Model<T>& model, const Tensor<T>& X, const Targets<T>& Y, ErrType err, T eta, int n,
                     const std::vector<Tensor<T>>* vinit = nullptr, std::vector<SweepStats>* record = nullptr);

// Throws Error unless eta and n are usable for err.
void check_inference_settings(ErrType err, double eta, int n);

}  // namespace pcplay
