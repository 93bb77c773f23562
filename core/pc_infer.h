// PCInfer: Torch2PC's predictive-coding inference, and the algorithms that
// came after it, behind one interface; docs/algorithms.md states each error
// type's equations in these names. Each has its own file, its equations above
// its sweep: pc_strict.cpp, pc_fixedpred.cpp, pc_exact.cpp, pc_epc.cpp,
// pc_ipc.cpp; what they share is in pc_infer.cpp. Lists are indexed 0..L:
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

#include "collective.h"
#include "model.h"
#include "names.h"
#include "optim.h"
#include "thread_pool.h"

namespace pcplay {

// Torch2PC's three, then error-based PC (ePC: the Strict energy descended over
// the errors) and incremental PC (iPC: beliefs and weights updated together).
enum class ErrType { Strict, FixedPred, Exact, ErrorBased, Incremental };

// The error types' names ("strict", ...) and labels ("Strict PC", ...): the
// one list every front end offers.
const std::vector<Named<ErrType>>& err_types();
ErrType parse_err_type(const std::string& name);  // any case; throws Error
std::string err_type_name(ErrType err);
std::string err_type_label(ErrType err);
// Whether the error type relaxes beliefs over inference iterations (η and n
// apply); Exact is backprop in one pass.
inline bool relaxes(ErrType err) { return err != ErrType::Exact; }
// Whether the error type updates the weights during its relaxation (iPC: one
// optimizer step per inference iteration) rather than once after it.
inline bool learns_while_relaxing(ErrType err) { return err == ErrType::Incremental; }
// Whether its sweeps take each thread's share of the batch's rows through
// every block (PCInference::for_each_share), each share with traces of its
// own rows: the relaxations whose weights stay fixed while they relax.
inline bool sweeps_by_row_shares(ErrType err) { return relaxes(err) && !learns_while_relaxing(err); }

// What one inference iteration left, for plots: energy and each layer's ‖eps‖
// (Frobenius over the batch; NaN where eps is undefined).
//   Strict, ePC, iPC: energy = F = ½ Σ_{l<L} ‖f_l(v_{l-1}) − v_l‖² + Loss(f_L(v_{L-1}), Y),
//              the function their sweeps descend, at the beliefs (and, for
//              iPC, the weights) the iteration's eps were computed from;
//   FixedPred: energy = ½ Σ_{l<L} ‖v̂_l − v_l‖² + Loss(v̂_L, Y).
// step_rms is the root mean square of the iteration's step direction over
// every relaxed value: ∂F/∂v_l (Strict, iPC), ∂F/∂eps_l (ePC), and FixedPred's
// eps_k − J_{k+1}(v̂_k)^T eps_{k+1}; it is what the stopping rule watches.
struct SweepStats {
  int iteration = 0;
  double energy = 0;
  double step_rms = 0;
  std::vector<double> eps_norm;
};

// Whether, where and how a relaxation diverged. Two signs:
//  * non-finite: NaN or Inf in some eps_l or v_l, or in the gradients (the
//    iterations stop there). It overrides the other sign;
//  * energy rose (Strict and ePC): both are gradient descent on F, which
//    never rises for a step size that converges; F above its value where the
//    relaxation started means η is too large (Strict at η = 1 typically stays
//    finite but ends 1e2..1e4 away from backprop). The iterations go on, as
//    in Torch2PC. (iPC changes the weights as it goes: F may rise then.)
struct Divergence {
  enum class Kind { None, NonFinite, EnergyRose };
  Kind kind = Kind::None;
  int iteration = 0;  // 1-based inference iteration (0: the forward pass)
  Index layer = 0;    // non-finite: the layer l where it was found (the highest)
  std::string quantity;  // non-finite: "eps", "v", "grad" or "weights" (of block l), or "loss"
  double energy_start = 0, energy = 0;  // energy rose: F at the start and the first F above it
  bool diverged() const { return kind != Kind::None; }
  // "eps_2 became non-finite at inference iteration 17", ...
  std::string describe() const;
};

template <typename T>
class PCInference {
 public:
  // iPC steps `optimizer` (which must outlive this) at each iteration; the
  // others take none.
  PCInference(Model<T>& model, ErrType err, T eta, Optimizer<T>* optimizer = nullptr);

  // Forward pass and initial beliefs: v = v̂ (ePC: eps = 0), or for Strict the given vinit
  // (its entries 1..L-1 that are defined replace v̂; v_0 = X and v_L stay).
  // Exact computes everything here: eps = backprop errors, and gradients.
  // Starts a new relaxation each time; its buffers are kept from the last, so
  // that the steps of a run allocate nothing once the batch shape is set.
  void start(const Tensor<T>& X, const Targets<T>& Y, const std::vector<Tensor<T>>* vinit = nullptr);
  // One inference iteration (a synchronous sweep over the layers). Does
  // nothing once a value has become non-finite.
  void sweep();
  // Overwrites every parameter's grad with Jθ_l(·)^T eps_l (NaN when the
  // feed-forward loss was already non-finite and no iteration ran). iPC has
  // already updated the weights: its grad is the mean of the gradients its
  // iterations applied, for comparing with backprop's.
  void set_gradients();
  // The batch is a share of one split among processes (collective.h): the
  // loss, the gradients and every measure of an iteration (its stats, the
  // stopping rule, the divergence checks) are summed to the whole batch's,
  // the same on every process. The targets' batch_total must give the whole
  // batch. nullptr (the default): one process.
  void share_with(Collective* collective) { collective_ = collective; }
  // The stopping rule: with tol > 0 the relaxation is over (converged()) once
  // an iteration's step_rms ≤ tol · the first iteration's. 0: run all n.
  void set_tolerance(double tol);
  bool converged() const { return tol_ > 0 && iterations_ > 0 && last_step_rms_ <= tol_ * first_step_rms_; }
  // The whole of Torch2PC's PCInfer: start(), up to n sweeps (none for
  // Exact; they stop once a value is non-finite or the relaxation has
  // converged), set_gradients(). `record` receives the stats of each iteration.
  void run(const Tensor<T>& X, const Targets<T>& Y, int n, const std::vector<Tensor<T>>* vinit = nullptr,
           std::vector<SweepStats>* record = nullptr);

  SweepStats stats() const;
  int iterations() const { return iterations_; }
  const Divergence& divergence() const { return divergence_; }

  const ErrType err;
  const T eta;
  // Torch2PC's return values (ePC's are the same: its beliefs are made from
  // its errors, v_l = f_l(v_{l-1}) − eps_l).
  std::vector<Tensor<T>> vhat, v, eps;
  T loss = 0;
  Tensor<T> dLdy;

 private:
  // Each algorithm's own steps, in its own file.
  void start_exact();                  // pc_exact.cpp
  void sweep_fixedpred();              // pc_fixedpred.cpp
  void gradients_fixedpred();
  void sweep_strict();                 // pc_strict.cpp
  void gradients_strict();
  void sweep_epc();                    // pc_epc.cpp
  void beliefs_from_errors(std::vector<BlockTrace<T>>& traces, std::vector<Tensor<T>>& v_rows,
                           const std::vector<Tensor<T>>& eps_rows, const Tensor<T>& f1);
  void gradients_epc();
  void sweep_ipc();                    // pc_ipc.cpp
  void learn_ipc();                    // (after its sweep, the errors measured)
  void gradients_ipc();
  // A share of the batch's rows that goes through every block of a sweep on
  // one thread (for_each_share): views of its rows of the batch's tensors,
  // and the traces and VJP scratch of its own rows.
  struct Share {
    Index first = 0;
    std::vector<Tensor<T>> v, eps, vhat;  // views
    Tensor<T> f1;                         // a view of f_1(X), the forward pass's
    std::vector<BlockTrace<T>> own_trace;    // f_l at the share's rows (when there are several shares)
    std::vector<BlockTrace<T>>* trace = nullptr;  // own_trace, or trace_ when one share is the whole batch
    std::vector<Tensor<T>> vjp;
    const Tensor<T>& prediction(Index l) const { return l == 1 ? f1 : (*trace)[l].output(); }
  };
  // Calls fn(part, first, end) for the shares of [0, B) the thread pool makes
  // (one per thread, each starting at a multiple of kPanelRows rows), each on
  // its own thread, with shares_[part] viewing rows [first, end) of v, eps
  // and vhat (eps_l only where it is defined).
  void for_each_share(PartFn fn);
  void view_share(Share& share, Index first, Index end);
  // f_L(v_{L-1}), for the loss: each share copies its rows into top_ on its
  // own thread (share_top), unless one share's trace is the whole batch's.
  void share_top(const Share& share);
  const Tensor<T>& top() const;

  // Shared by the sweeps (pc_infer.cpp).
  void measure_errors();
  // eps_l = prediction − v_l;  v_l += η (eps_l − vjp), measuring eps_l, v_l
  // and the step into layer l's row sums (the rows are share's rows).
  void relax_layer(Index l, const Tensor<T>& prediction, const Tensor<T>& vjp, Tensor<T>& v_rows,
                   Tensor<T>& eps_rows, Index first);
  // Adds the row sums the sweep left in row_sq_, row_step_sq_, row_finite_ as layer l's.
  void record_rows(Index l);
  double* row_sq(Index l) { return row_sq_.data() + l * batch_; }
  double* row_step_sq(Index l) { return row_step_sq_.data() + l * batch_; }
  char* row_finite(Index l) { return row_finite_.data() + l * batch_; }
  void flag_non_finite(Index layer, const char* quantity);
  // The parameter gradients this process computed summed over the processes
  // sharing the batch, then checked for non-finite values.
  void complete_gradients();
  // The measures of an iteration summed over the processes (measure_errors).
  void sum_measures();

  Model<T>& model_;
  Optimizer<T>* optimizer_;  // iPC's
  Collective* collective_ = nullptr;
  std::vector<double> measures_;      // scratch: sum_measures' message
  std::vector<T> grad_message_;       // scratch: complete_gradients' message
  const Targets<T>* Y_ = nullptr;
  std::vector<BlockTrace<T>> trace_;  // per block: at v̂ (FixedPred, Exact) or at the beliefs (Strict)
  std::vector<Tensor<T>> vjp_;        // scratch (iPC): J_{l+1}^T eps_{l+1} for each l (sizes differ: no reallocation)
  T belief_loss_ = 0;                 // Strict, ePC, iPC: Loss(f_L(v_{L-1}), Y) in the last sweep
  std::vector<double> eps_sq_;        // ‖eps_l‖² after the last sweep (NaN where undefined)
  std::vector<bool> v_finite_;        // v_l (ePC: eps_l) all finite after the last sweep
  double step_sq_ = 0;                // the last sweep's Σ (step direction)² over its layers
  double step_count_ = 0;             // ... and how many values it relaxed
  std::vector<double> row_sq_, row_step_sq_;  // scratch: each layer's samples' Σ eps², Σ step² (l·B + r)
  std::vector<char> row_finite_;      // scratch: each layer's samples' v finite
  Index batch_ = 0;                   // B, the rows of this relaxation
  std::vector<Share> shares_;         // one per thread
  Tensor<T> top_;                     // scratch: f_L(v_{L-1}) gathered from the shares
  std::vector<NamedParam<T>> params_;  // iPC: the model's parameters, listed once per relaxation
  std::vector<Tensor<T>> grad_sum_;   // iPC: the sum of the gradients its iterations applied
  double energy_ = 0;                 // energy after the last sweep
  double tol_ = 0, first_step_rms_ = 0, last_step_rms_ = 0;
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
// or shapes, and for iPC, which learns as it relaxes (a Trainer runs it). If the feed-forward loss is already non-finite no iteration runs
// and the gradients are NaN; check `divergence`. When `record` is given, it receives the stats of each iteration.
// (C++20's std::type_identity_t: keeps T deduced from the model alone, so
// that eta may be a literal and vinit a nullptr.)
template <typename T>
struct NonDeduced {
  using type = T;
};

template <typename T>
PCResult<T> pc_infer(Model<T>& model, const Tensor<T>& X, const Targets<T>& Y, ErrType err,
                     typename NonDeduced<T>::type eta, int n,
                     const typename NonDeduced<std::vector<Tensor<T>>>::type* vinit = nullptr,
                     std::vector<SweepStats>* record = nullptr);

// The floating-point operations of PCInfer's products for one sample, as
// PCInference does the work (2 per multiply-add of its Linear and Conv2d
// layers; a vector-Jacobian product, for the input or for the parameters,
// costs as much as the forward product; element-wise work is not counted):
//   Exact      forward, then each block's parameter VJP and (but the first) its input VJP;
//   FixedPred  forward; n sweeps of every block's input VJP; the parameter VJPs;
//   Strict     forward; n sweeps of blocks 2..L forward and input VJP; a forward
//   and ePC    of blocks 2..L at the final beliefs, and the parameter VJPs;
//   iPC        forward; n sweeps of blocks 2..L forward and input VJP, and
//              every parameter VJP (the optimizer's steps are not counted).
template <typename T>
double pc_infer_flops(const Model<T>& model, ErrType err, int n);

// Throws Error unless eta, n and the stopping rule's tol are usable for err.
void check_inference_settings(ErrType err, double eta, int n, double tol = 0);
void check_tolerance(double tol);  // 0 (off) to 1

}  // namespace pcplay
