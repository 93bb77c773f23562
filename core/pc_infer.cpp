#include "pc_infer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "error.h"
#include "row_update.h"
#include "thread_pool.h"

namespace pcplay {

const std::vector<Named<ErrType>>& err_types() {
  static const std::vector<Named<ErrType>> types = {{ErrType::Strict, "strict", "Strict PC"},
                                                    {ErrType::FixedPred, "fixedpred", "FixedPred PC"},
                                                    {ErrType::Exact, "exact", "Exact (backprop)"},
                                                    {ErrType::ErrorBased, "epc", "ePC (error-based)"},
                                                    {ErrType::Incremental, "ipc", "iPC (incremental)"}};
  return types;
}

ErrType parse_err_type(const std::string& name) { return parse_named(err_types(), name, "error type"); }
std::string err_type_name(ErrType err) { return named(err_types(), err).name; }
std::string err_type_label(ErrType err) { return named(err_types(), err).label; }

std::string Divergence::describe() const {
  char buf[200];
  switch (kind) {
    case Kind::None: return "converging";
    case Kind::NonFinite:
      if (quantity == "loss") return "the feed-forward loss is non-finite";
      if (quantity == "grad")
        return "the gradient of block " + std::to_string(layer) + " is non-finite after " + std::to_string(iteration) +
               " inference iterations";
      if (quantity == "weights")
        return "the weights of block " + std::to_string(layer) + " became non-finite at inference iteration " +
               std::to_string(iteration);
      return quantity + "_" + std::to_string(layer) + " became non-finite at inference iteration " +
             std::to_string(iteration);
    case Kind::EnergyRose:
      std::snprintf(buf, sizeof buf,
                    "the energy rose from %.6g to %.6g at inference iteration %d (eta is too large)",
                    energy_start, energy, iteration);
      return buf;
  }
  return "?";
}

void check_tolerance(double tol) {
  if (!(tol >= 0 && tol <= 1)) throw Error("tol must be 0 (off) to 1");
}

void check_inference_settings(ErrType err, double eta, int n, double tol) {
  check_tolerance(tol);
  if (err == ErrType::Exact) return;
  if (!std::isfinite(eta) || eta <= 0) throw Error("eta must be a positive number");
  if (n < 1) throw Error("n (inference iterations) must be at least 1");
}

template <typename T>
PCInference<T>::PCInference(Model<T>& model, ErrType err_type, T step, Optimizer<T>* optimizer)
    : err(err_type), eta(step), model_(model), optimizer_(optimizer) {
  if (learns_while_relaxing(err) && !optimizer_)
    throw Error("iPC updates the weights at every inference iteration: it runs in training, with an optimizer");
}

template <typename T>
void PCInference<T>::set_tolerance(double tol) {
  check_tolerance(tol);
  tol_ = tol;
}

template <typename T>
void PCInference<T>::start(const Tensor<T>& X, const Targets<T>& Y, const std::vector<Tensor<T>>* vinit) {
  const Index L = model_.depth();
  model_.check_input(X, /*may_be_empty=*/collective_ != nullptr);
  check_targets(model_.loss(), Y, X.rows(), model_.output_shape()[0]);
  Y_ = &Y;
  batch_ = X.rows();
  iterations_ = 0;
  divergence_ = Divergence();

  model_.forward(X, vhat, trace_);
  loss = loss_value(model_.loss(), vhat[L], Y, &dLdy);
  if (collective_) collective_->sum(&loss, 1, "the loss");
  if (!std::isfinite(static_cast<double>(loss))) flag_non_finite(L, "loss");
  if (vinit && err != ErrType::Strict)
    throw Error("vinit applies to Strict only (FixedPred, as in Torch2PC, starts from v = v̂; Exact has no beliefs)");
  v.resize(L + 1);
  eps.resize(L + 1);
  vjp_.resize(L);
  for (Index l = 0; l <= L; ++l) {  // none until set (storage kept for reuse)
    v[l].forget();
    eps[l].forget();
  }
  if (err == ErrType::Exact) return start_exact();

  v = vhat;
  if (vinit) {
    if (static_cast<Index>(vinit->size()) != L + 1)
      throw Error("vinit must hold " + std::to_string(L + 1) + " entries (v_0..v_L)");
    for (Index l = 1; l < L; ++l) {
      if (!(*vinit)[l].defined()) continue;
      if ((*vinit)[l].shape() != vhat[l].shape())
        throw Error("vinit v." + std::to_string(l) + " has shape " + shape_str((*vinit)[l].shape()) +
                    ", expected " + shape_str(vhat[l].shape()));
      v[l] = (*vinit)[l];
    }
  }
  if (err == ErrType::FixedPred) eps[L] = dLdy;
  if (err == ErrType::ErrorBased)  // v = v̂ is where eps = 0
    for (Index l = 1; l < L; ++l) {
      eps[l].resize(vhat[l].shape());
      eps[l].array() = T(0);
    }
  if (err == ErrType::Incremental) {
    if (params_.empty()) params_ = model_.parameters();
    grad_sum_.resize(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) {
      grad_sum_[i].resize(params_[i].param->value.shape());
      grad_sum_[i].array() = T(0);
    }
  }
}

template <typename T>
void PCInference<T>::relax_layer(Index l, const Tensor<T>& prediction, const Tensor<T>& vjp, Tensor<T>& v_rows,
                                 Tensor<T>& eps_rows, Index first) {
  const Index n = v_rows.cols();
  eps_rows.resize(v_rows.shape());
  const T *p = prediction.data(), *g = vjp.data();
  const T rate = eta;  // a local: a member is read through `this`, which a store might alias
  T *v = v_rows.data(), *e = eps_rows.data();
  // eps = pred − v;  v += η (eps − vjp): the spec's two statements, value for value
  update_rows<T>(model_.thread_pool(), v_rows.rows(), n, row_sq(l) + first, row_step_sq(l) + first,
                 row_finite(l) + first, [=](Index k) {
                   const T d = p[k] - v[k];
                   const T step = d - g[k];
                   e[k] = d;
                   v[k] += rate * step;
                   return ValueUpdate<T>{d, step, v[k]};
                 });
}

template <typename T>
void PCInference<T>::record_rows(Index l) {
  double sq = 0, step_sq = 0;
  bool finite = true;
  for (Index r = 0; r < batch_; ++r) {  // in row order, however the rows were shared
    sq += row_sq(l)[r];
    step_sq += row_step_sq(l)[r];
    finite = finite && row_finite(l)[r];
  }
  eps_sq_[l] = sq;
  v_finite_[l] = finite;
  step_sq_ += step_sq;
  step_count_ += static_cast<double>(eps[l].size());
}

template <typename T>
void PCInference<T>::view_share(Share& share, Index first, Index end) {
  const Index L = model_.depth();
  const Index rows = end - first;
  share.first = first;
  share.v.resize(L + 1);
  share.eps.resize(L + 1);
  share.vhat.resize(L + 1);
  share.vjp.resize(L);
  for (Index l = 0; l <= L; ++l) {
    share.v[l].view_rows(v[l], first, rows);
    share.vhat[l].view_rows(vhat[l], first, rows);
    if (eps[l].defined())
      share.eps[l].view_rows(eps[l], first, rows);
    else
      share.eps[l].forget();
  }
  share.f1.view_rows(trace_[1].output(), first, rows);
  const bool whole = first == 0 && end == batch_;  // one share: the batch's own traces serve
  if (!whole) share.own_trace.resize(L + 1);
  share.trace = whole ? &trace_ : &share.own_trace;
}

template <typename T>
void PCInference<T>::for_each_share(PartFn fn) {
  ThreadPool* pool = model_.thread_pool();
  const size_t threads = static_cast<size_t>(pool ? pool->size() : 1);
  if (shares_.size() < threads) shares_.resize(threads);
  // Shares start at multiples of the product kernel's row panel, as the
  // layers' own row parts do: every row is computed as in the whole batch,
  // and a view of rows keeps the alignment Tensor's maps promise.
  parallel_parts(
      pool, batch_, kPanelRows<T>,
      [&](int part, Index first, Index end) {
        view_share(shares_[part], first, end);
        fn(part, first, end);
      },
      kPanelRows<T>);
}

template <typename T>
void PCInference<T>::share_top(const Share& share) {
  const Index L = model_.depth();
  if (L == 1 || share.trace == &trace_) return;
  const Tensor<T>& out = (*share.trace)[L].output();
  std::copy(out.data(), out.data() + out.size(), top_.data() + share.first * top_.cols());
}

template <typename T>
const Tensor<T>& PCInference<T>::top() const {
  return model_.depth() == 1 || shares_[0].trace == &trace_ ? trace_.back().output() : top_;
}

template <typename T>
void PCInference<T>::sweep() {
  if (err == ErrType::Exact || divergence_.kind == Divergence::Kind::NonFinite) return;
  const Index L = model_.depth();
  eps_sq_.assign(L + 1, std::numeric_limits<double>::quiet_NaN());
  row_sq_.resize(static_cast<size_t>((L + 1) * batch_));
  row_step_sq_.resize(row_sq_.size());
  row_finite_.resize(row_sq_.size());
  top_.resize(vhat[L].shape());  // (here, before any share writes its rows)
  v_finite_.assign(L + 1, true);
  step_sq_ = step_count_ = 0;
  switch (err) {
    case ErrType::FixedPred: sweep_fixedpred(); break;
    case ErrType::Strict: sweep_strict(); break;
    case ErrType::ErrorBased: sweep_epc(); break;
    case ErrType::Incremental: sweep_ipc(); break;
    case ErrType::Exact: break;
  }
  ++iterations_;
  measure_errors();
  if (err == ErrType::Incremental) learn_ipc();
  // The stopping rule, on the step this iteration took against the first's.
  const double rms = step_count_ > 0 ? std::sqrt(step_sq_ / step_count_) : 0;
  if (iterations_ == 1) first_step_rms_ = rms;
  last_step_rms_ = rms;
}

template <typename T>
void PCInference<T>::flag_non_finite(Index layer, const char* quantity) {
  if (divergence_.kind == Divergence::Kind::NonFinite) return;  // keep the first
  divergence_.kind = Divergence::Kind::NonFinite;
  divergence_.quantity = quantity;
  divergence_.iteration = iterations_;
  divergence_.layer = layer;
}

// The sweep measured each layer's Σ eps² and the finiteness of its v as it
// went; eps_L is measured here. They give the energy and the divergence check.
template <typename T>
void PCInference<T>::measure_errors() {
  const Index L = model_.depth();
  eps_sq_[L] = static_cast<double>(eps[L].array().square().sum());
  if (collective_) sum_measures();
  double half_sq = 0;
  for (Index l = L; l >= 0; --l) {
    if (!eps[l].defined()) continue;
    if (!std::isfinite(eps_sq_[l]) || !v_finite_[l])  // (ePC relaxes eps: its v_finite_ is about eps)
      flag_non_finite(l, std::isfinite(eps_sq_[l]) && err != ErrType::ErrorBased ? "v" : "eps");
    if (l < L) half_sq += 0.5 * eps_sq_[l];
  }
  energy_ = half_sq + static_cast<double>(err == ErrType::FixedPred ? loss : belief_loss_);
  // Iteration 1 measures F where the relaxation starts (at v̂, or vinit).
  if ((err != ErrType::Strict && err != ErrType::ErrorBased) || divergence_.diverged()) return;
  if (iterations_ == 1) {
    divergence_.energy_start = energy_;
  } else if (energy_ > divergence_.energy_start * (1 + 64 * std::numeric_limits<T>::epsilon()) + 1e-300) {
    divergence_.kind = Divergence::Kind::EnergyRose;
    divergence_.iteration = iterations_;
    divergence_.energy = energy_;
  }
}

// One message per iteration: Σ eps² and the count of non-finite v of each
// layer, the step's Σ and count, and the loss at the beliefs. (An undefined
// layer's NaN stays NaN on every process.)
template <typename T>
void PCInference<T>::sum_measures() {
  const size_t layers = eps_sq_.size();
  measures_.assign(2 * layers + 3, 0.0);
  for (size_t l = 0; l < layers; ++l) {
    measures_[l] = eps_sq_[l];
    measures_[layers + l] = v_finite_[l] ? 0 : 1;
  }
  measures_[2 * layers] = step_sq_;
  measures_[2 * layers + 1] = step_count_;
  measures_[2 * layers + 2] = static_cast<double>(belief_loss_);
  collective_->sum(measures_.data(), measures_.size(), "an inference iteration's measures");
  for (size_t l = 0; l < layers; ++l) {
    eps_sq_[l] = measures_[l];
    v_finite_[l] = measures_[layers + l] == 0;
  }
  step_sq_ = measures_[2 * layers];
  step_count_ = measures_[2 * layers + 1];
  belief_loss_ = static_cast<T>(measures_[2 * layers + 2]);
}

template <typename T>
void PCInference<T>::set_gradients() {
  if (err == ErrType::Exact) return;  // start() already set them
  if (iterations_ == 0) {
    if (!divergence_.diverged()) throw Error("set_gradients needs at least one inference iteration");
    for (auto& p : model_.parameters()) p.param->grad.array() = std::numeric_limits<T>::quiet_NaN();
    return;
  }
  switch (err) {
    case ErrType::FixedPred: gradients_fixedpred(); break;
    case ErrType::Strict: gradients_strict(); break;
    case ErrType::ErrorBased: gradients_epc(); break;
    case ErrType::Incremental: gradients_ipc(); break;
    case ErrType::Exact: break;
  }
}

template <typename T>
void PCInference<T>::run(const Tensor<T>& X, const Targets<T>& Y, int n, const std::vector<Tensor<T>>* vinit,
                         std::vector<SweepStats>* record) {
  start(X, Y, vinit);
  if (err == ErrType::Exact) return;  // start() did it all
  for (int i = 0; i < n && divergence_.kind != Divergence::Kind::NonFinite && !converged(); ++i) {
    sweep();
    if (record) record->push_back(stats());
  }
  set_gradients();
}

template <typename T>
void PCInference<T>::complete_gradients() {
  if (collective_) sum_gradients(collective_, model_.parameters(), grad_message_);
  for (Index l = 1; l <= model_.depth(); ++l)
    for (const auto& layer : model_.f(l).layers)
      for (const Param<T>& p : layer->params)
        if (!p.grad.all_finite()) return flag_non_finite(l, "grad");
}

template <typename T>
SweepStats PCInference<T>::stats() const {
  const Index L = model_.depth();
  SweepStats s;
  s.iteration = iterations_;
  s.eps_norm.resize(L + 1);
  for (Index l = 0; l <= L; ++l) s.eps_norm[l] = iterations_ > 0 ? std::sqrt(eps_sq_[l]) : std::nan("");
  s.energy = iterations_ > 0 ? energy_ : static_cast<double>(loss);
  s.step_rms = iterations_ > 0 ? last_step_rms_ : std::nan("");
  return s;
}

template <typename T>
PCResult<T> pc_infer(Model<T>& model, const Tensor<T>& X, const Targets<T>& Y, ErrType err,
                     typename NonDeduced<T>::type eta, int n,
                     const typename NonDeduced<std::vector<Tensor<T>>>::type* vinit, std::vector<SweepStats>* record) {
  check_inference_settings(err, static_cast<double>(eta), n);
  PCInference<T> inference(model, err, eta);
  inference.run(X, Y, n, vinit, record);
  return {std::move(inference.vhat), std::move(inference.v),    std::move(inference.eps),
          inference.loss,            std::move(inference.dLdy), inference.divergence()};
}

namespace {
template <typename T>
double product_flops(const Block<T>& block) {
  double flops = 0;
  for (const auto& layer : block.layers) flops += 2 * layer->product_macs();
  return flops;
}
}  // namespace

template <typename T>
double pc_infer_flops(const Model<T>& model, ErrType err, int n) {
  const Index L = model.depth();
  double all = 0;
  for (Index l = 1; l <= L; ++l) all += product_flops(model.f(l));
  const double rest = all - product_flops(model.f(1));  // v_0 = X: no VJP into it, f_1 at X once
  switch (err) {
    case ErrType::Exact: return all + all + rest;
    case ErrType::FixedPred: return all + n * all + all;
    case ErrType::Strict:
    case ErrType::ErrorBased: return all + n * 2 * rest + rest + all;
    case ErrType::Incremental: return all + n * (2 * rest + all);
  }
  return 0;
}

template class PCInference<float>;
template class PCInference<double>;
template PCResult<float> pc_infer<float>(Model<float>&, const Tensor<float>&, const Targets<float>&, ErrType, float,
                                         int, const std::vector<Tensor<float>>*, std::vector<SweepStats>*);
template double pc_infer_flops(const Model<float>&, ErrType, int);
template double pc_infer_flops(const Model<double>&, ErrType, int);
template PCResult<double> pc_infer<double>(Model<double>&, const Tensor<double>&, const Targets<double>&, ErrType,
                                           double, int, const std::vector<Tensor<double>>*, std::vector<SweepStats>*);

}  // namespace pcplay
