// pcplay infer: one PCInfer call on a stored model and batch, every result
// written to a safetensors file (the contract the PyTorch reference checks).
#include <cstdio>
#include <string>

#include "commands.h"
#include "error.h"
#include "model_file.h"
#include "options.h"
#include "pc_infer.h"
#include "safetensors.h"
#include "thread_pool.h"

namespace pcplay::cli {
namespace {

struct InferOptions {
  std::string model, weights, batch, vinit, out;
  ErrType err = ErrType::FixedPred;
  double eta = 0.1;
  int n = 20;
  std::string dtype = "float32";
  int threads = 0;
};

// x: [B, input_shape...]; y: integer labels [B] or, for MSE, [B, K] reals.
template <typename T>
void load_batch(const Model<T>& model, const TensorFile& file, const std::string& path, Tensor<T>& x, Targets<T>& y) {
  try {
    x = load_tensor<T>(file.at("x"));
    model.check_input(x);
    const StoredTensor& ys = file.at("y");
    const Index K = model.output_shape()[0];
    const bool integer = ys.dtype == DType::I64 || ys.dtype == DType::I32 || ys.dtype == DType::U8;
    if (model.loss() == LossKind::CrossEntropy || (integer && ys.shape.size() == 1))
      y = targets_from_labels<T>(model.loss(), load_labels(ys, "y"), K);
    else
      y.values = load_tensor<T>(ys);
    check_targets(model.loss(), y, x.rows(), K);
  } catch (const Error& e) {
    throw with_context(path, e);
  }
}

template <typename T>
int run_infer(const InferOptions& o) {
  const ErrType err = o.err;
  check_inference_settings(err, o.eta, o.n);
  if (learns_while_relaxing(err))
    throw Error("iPC updates the weights at every inference iteration: it runs in training (pcplay train --err ipc)");
  Model<T> model(resolve_model(o.model));
  ThreadPool pool(o.threads);
  model.set_thread_pool(&pool);
  try {
    load_parameters(model, read_safetensors(o.weights));
  } catch (const Error& e) {
    throw with_context(o.weights, e);
  }
  Tensor<T> x;
  Targets<T> y;
  load_batch(model, read_safetensors(o.batch), o.batch, x, y);

  std::vector<Tensor<T>> vinit;
  if (!o.vinit.empty()) {
    const TensorFile vf = read_safetensors(o.vinit);
    vinit.resize(model.depth() + 1);
    for (const auto& [name, st] : vf.tensors) {
      const std::string prefix = "v.";
      size_t l = 0;
      if (name.compare(0, prefix.size(), prefix) != 0 ||
          (l = std::strtoul(name.c_str() + prefix.size(), nullptr, 10)) < 1 || l + 1 >= vinit.size() ||
          name != prefix + std::to_string(l))
        throw Error(o.vinit + ": unexpected tensor \"" + name + "\" (expected v.1 .. v." +
                    std::to_string(model.depth() - 1) + ")");
      vinit[l] = load_tensor<T>(st);
    }
  }

  PCResult<T> r = pc_infer(model, x, y, err, static_cast<T>(o.eta), o.n, o.vinit.empty() ? nullptr : &vinit);

  TensorFile out;
  Tensor<T> loss(Shape{});  // a scalar
  loss[0] = r.loss;
  out.tensors["loss"] = store_tensor(loss);
  out.tensors["dLdy"] = store_tensor(r.dLdy);
  for (size_t l = 0; l < r.vhat.size(); ++l) {
    out.tensors["vhat." + std::to_string(l)] = store_tensor(r.vhat[l]);
    if (r.v[l].defined()) out.tensors["v." + std::to_string(l)] = store_tensor(r.v[l]);
    if (r.eps[l].defined()) out.tensors["eps." + std::to_string(l)] = store_tensor(r.eps[l]);
  }
  for (const NamedParam<T>& p : model.parameters()) out.tensors["grad." + p.name] = store_tensor(p.param->grad);
  char eta_text[32];
  std::snprintf(eta_text, sizeof eta_text, "%.10g", o.eta);
  out.metadata = {{"err", err_type_name(err)},
                  {"eta", eta_text},
                  {"n", std::to_string(o.n)},
                  {"dtype", o.dtype},
                  {"divergence", r.divergence.describe()}};
  write_safetensors(o.out, out);
  if (r.divergence.kind == Divergence::Kind::NonFinite) {
    std::fprintf(stderr, "pcplay infer: diverged: %s (results written to %s)\n", r.divergence.describe().c_str(),
                 o.out.c_str());
    return kExitDiverged;
  }
  if (r.divergence.diverged())
    std::fprintf(stderr, "pcplay infer: warning: %s; the gradients are far from backprop's\n",
                 r.divergence.describe().c_str());
  return 0;
}

}  // namespace

Command add_infer_command(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  CLI::App* cmd = app.add_subcommand("infer", "Run PCInfer once on a batch and write every result (v̂, v, eps, grads)");
  cmd->add_option("--model", o->model, "Model file (JSON) or built-in model name")->required();
  cmd->add_option("--weights", o->weights, "Parameters (safetensors, state_dict names)")->required();
  cmd->add_option("--batch", o->batch, "Batch (safetensors): x [B, ...], y I64 [B] labels or [B, K] MSE targets")
      ->required();
  add_inference_options(cmd, o->err, o->eta, o->n);
  add_dtype_option(cmd, o->dtype);
  add_threads_option(cmd, o->threads);
  cmd->add_option("--vinit", o->vinit, "Initial beliefs v.1 .. v.(L-1) (safetensors); default v = v̂");
  cmd->add_option("--out", o->out, "Output (safetensors): loss, dLdy, vhat.l, v.l, eps.l, grad.<name>")->required();
  return [o] { return o->dtype == "float64" ? run_infer<double>(*o) : run_infer<float>(*o); };
}

}  // namespace pcplay::cli
