// _pcplay: pcplay's engine for Python, on numpy arrays. The package pcplay
// (python/pcplay) puts its names on it, and pcplay.torch Torch2PC's PCInfer.
// A thin shell over core/, as native/ and web/ are: it converts arrays and
// errors, and computes nothing of its own.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "data_dir.h"
#include "data_io.h"
#include "error.h"
#include "metrics.h"
#include "model_file.h"
#include "pc_infer.h"
#include "safetensors.h"
#include "thread_pool.h"
#include "trainer.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace pcplay {
namespace {

#ifdef _OPENMP
// The engine's parallel parts on OpenMP's team, the runtime torch computes
// with (Debian's torch links the same libgomp). With a team of its own, the
// engine waited for the cores that torch's threads kept spinning on after
// torch's optimizer step: Torch2PC's loop with the swap ran at 0.57-0.91 of
// `pcplay bench`'s speed on two threads, and runs at 0.88-1.16 so.
void run_on_openmp(int parts, void (*part)(void*, int), void* context) {
#pragma omp parallel num_threads(parts)
  for (int p = omp_get_thread_num(); p < parts; p += omp_get_num_threads()) part(context, p);
}

ExternalTeam openmp_team(int threads) {
  ExternalTeam team;
  team.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  team.run = run_on_openmp;
  return team;
}
#else
int openmp_team(int threads) { return threads; }  // no OpenMP: the pool's own threads
#endif

template <typename M>
struct ScalarOf;
template <typename T>
struct ScalarOf<Model<T>> {
  using type = T;
};
// T of a Model<T>& (the generic lambdas of PyModel::visit take either).
template <typename M>
using scalar_of = typename ScalarOf<std::remove_reference_t<M>>::type;

// numpy's names for T, as the CLI's --dtype takes them.
template <typename T>
const char* dtype_name() {
  return sizeof(T) == 8 ? "float64" : "float32";
}
// Whether `dtype` asks for float64 (else float32); any other name is refused.
bool wants_float64(const std::string& dtype) {
  if (dtype != "float32" && dtype != "float64") throw py::value_error("dtype must be float32 or float64, not " + dtype);
  return dtype == "float64";
}

// A C-contiguous copy of `a` as a Tensor; `a` must have T's dtype exactly (a
// silent conversion would hide a float64 model fed float32 data).
template <typename T>
Tensor<T> tensor_from(const py::array& a, const char* what) {
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(what) + " has dtype " + std::string(py::str(a.dtype())) + ", the model " +
                         dtype_name<T>());
  const py::array_t<T, py::array::c_style> c = py::array_t<T, py::array::c_style>::ensure(a);
  Tensor<T> t;  // (not zero-filled: every value is copied)
  t.resize(Shape(c.shape(), c.shape() + c.ndim()));
  if (t.size() > 0) std::memcpy(t.data(), c.data(), static_cast<size_t>(t.size()) * sizeof(T));
  return t;
}

// The tensor's storage handed to numpy without a copy (None if undefined).
template <typename T>
py::object array_from(Tensor<T>&& t) {
  if (!t.defined()) return py::none();
  auto* owner = new Tensor<T>(std::move(t));
  py::capsule free_owner(owner, [](void* p) { delete static_cast<Tensor<T>*>(p); });
  const std::vector<py::ssize_t> shape(owner->shape().begin(), owner->shape().end());
  return py::array_t<T>(shape, owner->data(), free_owner);
}

template <typename T>
py::array array_copy(const Tensor<T>& t) {
  const std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  py::array_t<T> a(shape);
  if (t.size() > 0) std::memcpy(a.mutable_data(), t.data(), static_cast<size_t>(t.size()) * sizeof(T));
  return std::move(a);
}

template <typename T>
py::list arrays_from(std::vector<Tensor<T>>&& ts) {
  py::list out;
  for (Tensor<T>& t : ts) out.append(array_from(std::move(t)));
  return out;
}

// Targets: class labels (any integer dtype) or, for MSE, values of T's dtype.
template <typename T>
Targets<T> targets_from(const Model<T>& model, const py::array& Y) {
  const Index K = model.output_shape()[0];
  if (Y.dtype().kind() == 'i' || Y.dtype().kind() == 'u') {
    if (Y.ndim() != 1) throw py::value_error("class labels Y must have one dimension, [B]");
    const py::array_t<int64_t, py::array::c_style | py::array::forcecast> labels(Y);
    return targets_from_labels<T>(model.loss(), std::vector<int64_t>(labels.data(), labels.data() + labels.size()), K);
  }
  if (model.loss() != LossKind::MSE)
    throw py::type_error("cross-entropy takes class labels (an integer array [B]), not " +
                         std::string(py::str(Y.dtype())) + " values");
  Targets<T> y;
  y.values = tensor_from<T>(Y, "Y");
  return y;
}

// A model of either precision, its thread pool, and what the last run left.
class PyModel {
 public:
  PyModel(const ModelSpec& spec, const std::string& dtype, int threads) : pool_(openmp_team(threads)) {
    if (wants_float64(dtype)) f64_ = std::make_unique<Model<double>>(spec);
    else f32_ = std::make_unique<Model<float>>(spec);
    if (f64_) f64_->set_thread_pool(&pool_);
    else f32_->set_thread_pool(&pool_);
  }

  std::string dtype() const { return f64_ ? dtype_name<double>() : dtype_name<float>(); }
  int threads() const { return pool_.size(); }
  const ModelSpec& spec() const { return f64_ ? f64_->spec() : f32_->spec(); }

  template <typename T>
  Model<T>& typed() {
    if constexpr (sizeof(T) == 8) return *f64_;
    else return *f32_;
  }

  template <typename T>
  std::unique_ptr<PCInference<T>>& inference_for() {
    if constexpr (sizeof(T) == 8) return inference64_;
    else return inference32_;
  }

  template <typename Fn>
  auto visit(Fn fn) {
    return f64_ ? fn(*f64_) : fn(*f32_);
  }

  std::vector<std::string> parameter_names() {
    return visit([](auto& m) {
      std::vector<std::string> names;
      for (const auto& p : m.parameters()) names.push_back(p.name);
      return names;
    });
  }

  py::dict parameters(bool grads) {
    return visit([&](auto& m) {
      py::dict out;
      for (const auto& p : m.parameters()) out[py::str(p.name)] = array_copy(grads ? p.param->grad : p.param->value);
      return out;
    });
  }

  // Every parameter's storage in the engine, as numpy arrays that keep the
  // engine alive: pcplay.torch makes a torch model's parameters live there,
  // so that the engine reads them without a copy. (The storage stays where
  // it is while the engine lives: set_parameters copies into it.)
  py::dict parameter_views(const py::object& self) {
    return visit([&](auto& m) {
      using T = scalar_of<decltype(m)>;
      py::dict out;
      for (const auto& p : m.parameters()) {
        const Tensor<T>& value = p.param->value;
        const std::vector<py::ssize_t> shape(value.shape().begin(), value.shape().end());
        out[py::str(p.name)] = py::array_t<T>(shape, value.data(), self);
      }
      return out;
    });
  }

  // Every parameter, by name; a missing, unexpected or misshapen one is an error.
  void set_parameters(const py::dict& values) {
    visit([&](auto& m) {
      using T = scalar_of<decltype(m)>;
      const auto params = m.parameters();
      if (values.size() != params.size())
        throw py::value_error("set_parameters takes all " + std::to_string(params.size()) + " parameters, not " +
                              std::to_string(values.size()));
      for (const auto& p : params) {
        if (!values.contains(p.name)) throw py::value_error("parameter " + p.name + " is missing");
        const py::array a = values[py::str(p.name)];
        const Tensor<T> t = tensor_from<T>(a, p.name.c_str());
        if (t.shape() != p.param->value.shape())
          throw py::value_error("parameter " + p.name + " has shape " + shape_str(t.shape()) + ", expected " +
                                shape_str(p.param->value.shape()));
        p.param->value.array() = t.array();  // into the storage parameter_views show
      }
    });
  }

  py::dict pc_infer(const py::array& X, const py::array& Y, const std::string& err_name, double eta, int n,
                    const py::object& vinit) {
    const ErrType err = parse_err_type(err_name);
    if (learns_while_relaxing(err))
      throw py::value_error("iPC updates the weights at every inference iteration: train it with pcplay.train");
    check_inference_settings(err, eta, n);
    return visit([&](auto& m) {
      using T = scalar_of<decltype(m)>;
      const Tensor<T> x = tensor_from<T>(X, "X");
      m.check_input(x);
      const Targets<T> y = targets_from(m, Y);
      std::vector<Tensor<T>> beliefs;
      if (!vinit.is_none()) {
        for (const py::handle& entry : vinit.cast<py::list>())
          beliefs.push_back(entry.is_none() ? Tensor<T>() : tensor_from<T>(entry.cast<py::array>(), "vinit"));
      }
      // Kept from call to call with its scratch (traces, patches), as a
      // Trainer keeps it; what it returns is handed over to numpy.
      auto& inference = this->template inference_for<T>();
      if (!inference || inference->err != err || inference->eta != static_cast<T>(eta))
        inference = std::make_unique<PCInference<T>>(m, err, static_cast<T>(eta));
      {
        py::gil_scoped_release release;
        inference->run(x, y, n, vinit.is_none() ? nullptr : &beliefs);
      }
      py::dict out;
      out["loss"] = static_cast<double>(inference->loss);
      out["vhat"] = arrays_from(std::move(inference->vhat));
      out["dLdy"] = array_from(std::move(inference->dLdy));
      out["v"] = arrays_from(std::move(inference->v));
      out["eps"] = arrays_from(std::move(inference->eps));
      out["grads"] = parameters(true);
      const Divergence& d = inference->divergence();
      out["divergence"] = d.diverged() ? py::object(py::str(d.describe())) : py::none();
      return out;
    });
  }

  py::object predict(const py::array& X) {
    return visit([&](auto& m) {
      using T = scalar_of<decltype(m)>;
      const Tensor<T> x = tensor_from<T>(X, "X");
      m.check_input(x);
      Tensor<T> y;
      {
        py::gil_scoped_release release;
        y = m.predict(x);
      }
      return array_from(std::move(y));
    });
  }

  void load(const std::string& path) {
    visit([&](auto& m) { load_parameters(m, read_safetensors(path)); });
  }
  void save(const std::string& path) {
    visit([&](auto& m) {
      TensorFile file;
      store_parameters(m, file);
      write_safetensors(path, file);
    });
  }

 private:
  ThreadPool pool_;
  std::unique_ptr<Model<float>> f32_;
  std::unique_ptr<Model<double>> f64_;
  std::unique_ptr<PCInference<float>> inference32_;  // the last relaxation's, with its buffers
  std::unique_ptr<PCInference<double>> inference64_;
};

std::vector<Index> shape_vector(const Shape& s) { return std::vector<Index>(s.begin(), s.end()); }

// A data set's samples [N, sample_shape...] (float32, as stored) and labels.
py::tuple dataset_arrays(const Dataset& d) {
  std::vector<py::ssize_t> shape = {static_cast<py::ssize_t>(d.size())};
  shape.insert(shape.end(), d.sample_shape.begin(), d.sample_shape.end());
  py::array_t<float> x(shape);
  if (!d.x.empty()) std::memcpy(x.mutable_data(), d.x.data(), d.x.size() * sizeof(float));
  py::array_t<int64_t> labels(static_cast<py::ssize_t>(d.labels.size()));
  if (!d.labels.empty()) std::memcpy(labels.mutable_data(), d.labels.data(), d.labels.size() * sizeof(int64_t));
  return py::make_tuple(x, labels);
}

DataOptions data_options(Index samples, double noise, double ratio, uint64_t seed, const std::string& data_dir) {
  DataOptions options;
  options.data_dir = data_dir.empty() ? default_data_dir() : data_dir;
  options.samples = samples;
  options.noise = noise;
  options.train_ratio = ratio;
  options.seed = seed;
  return options;
}

// pcplay train's loop: every step's metrics (the CLI's CSV columns), the
// final evaluation, and the trained model. A divergence ends the run with
// the last good weights, and says so.
template <typename T>
py::dict train_run(DataSplit data, const ModelSpec& spec, const TrainConfig& config, long steps, int threads) {
  auto trainer = std::make_unique<Trainer<T>>(spec, std::move(data), config);
  const Index depth = trainer->model().depth();
  py::list metrics;
  std::string diverged;
  for (long i = 0; i < steps; ++i) {
    StepMetrics m;
    {
      py::gil_scoped_release release;
      m = trainer->step();
    }
    if (m.diverged) {
      diverged = m.divergence;  // "diverged at step S: what, where"
      break;
    }
    py::dict row;
    for (const auto& [name, value] : metrics_fields(m, depth, config.compare_bp)) row[py::str(name)] = value;
    metrics.append(row);
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();  // Ctrl-C stops a long run
  }
  const Evaluation train = trainer->evaluate(trainer->data().train), test = trainer->evaluate(trainer->data().test);
  auto model = std::make_unique<PyModel>(trainer->model().spec(), dtype_name<T>(), threads);
  model->template typed<T>().copy_parameters_from(trainer->model());
  py::dict out;
  out["metrics"] = metrics;
  out["steps"] = trainer->steps();
  out["train_loss"] = train.loss;
  out["train_accuracy"] = train.accuracy;
  out["test_loss"] = test.loss;
  out["test_accuracy"] = test.accuracy;
  out["diverged"] = diverged.empty() ? py::object(py::none()) : py::object(py::str(diverged));
  out["model"] = py::cast(std::move(model));
  return out;
}

// A model from a preset name, a dense/residual name (given the data's
// sample shape and classes), a model file's path, or a model file's JSON.
ModelSpec spec_from(const std::string& model, const py::object& input_shape, const py::object& classes) {
  if (!model.empty() && model.front() == '{') return parse_model_json(model, "the model");
  if (input_shape.is_none()) return resolve_model(model);
  const std::vector<Index> shape = input_shape.cast<std::vector<Index>>();
  return model_for_data(model, Shape(shape.begin(), shape.end()), classes.is_none() ? 10 : classes.cast<Index>());
}

}  // namespace
}  // namespace pcplay

PYBIND11_MODULE(_pcplay, m) {
  using namespace pcplay;
  m.doc() = "pcplay's predictive-coding engine on numpy arrays (the package pcplay wraps it)";
  py::register_exception<Error>(m, "Error", PyExc_ValueError);

  py::class_<PyModel>(m, "Model")
      .def(py::init([](const std::string& model, const std::string& dtype, int threads, const py::object& input_shape,
                       const py::object& classes) {
             return std::make_unique<PyModel>(spec_from(model, input_shape, classes), dtype, threads);
           }),
           py::arg("model"), py::arg("dtype") = "float32", py::arg("threads") = 0, py::arg("input_shape") = py::none(),
           py::arg("classes") = py::none())
      .def_property_readonly("dtype", &PyModel::dtype)
      .def_property_readonly("threads", &PyModel::threads)
      .def_property_readonly("depth", [](PyModel& p) { return p.visit([](auto& m) { return m.depth(); }); })
      .def_property_readonly("input_shape", [](PyModel& p) { return shape_vector(p.spec().input_shape); })
      .def_property_readonly("output_shape",
                             [](PyModel& p) { return p.visit([](auto& m) { return shape_vector(m.output_shape()); }); })
      .def_property_readonly("loss", [](PyModel& p) { return p.spec().loss == LossKind::MSE ? "mse" : "cross_entropy"; })
      .def("to_json", [](PyModel& p) { return model_json(p.spec()); })
      .def("parameter_names", &PyModel::parameter_names)
      .def("init", [](PyModel& p, uint64_t seed) { p.visit([&](auto& m) { m.init(seed); }); }, py::arg("seed") = 1)
      .def("parameters", [](PyModel& p) { return p.parameters(false); })
      .def("gradients", [](PyModel& p) { return p.parameters(true); })
      .def("set_parameters", &PyModel::set_parameters, py::arg("values"))
      .def("_parameter_views", [](py::object self) { return self.cast<PyModel&>().parameter_views(self); })
      .def("pc_infer", &PyModel::pc_infer, py::arg("X"), py::arg("Y"), py::arg("err"), py::arg("eta") = 0.1,
           py::arg("n") = 20, py::arg("vinit") = py::none())
      .def("predict", &PyModel::predict, py::arg("X"))
      .def("load", &PyModel::load, py::arg("path"))
      .def("save", &PyModel::save, py::arg("path"));

  m.def(
      "train",
      [](const std::string& data, const std::string& model, const std::string& err, double eta, int n, double tol,
         Index batch, long steps, const std::string& optimizer, double lr, double momentum, double weight_decay,
         uint64_t seed, bool compare_bp, const std::string& dtype, int threads, Index samples, double noise,
         double ratio, const std::string& data_dir, const std::string& loss) {
        if (steps < 0) throw py::value_error("steps must be 0 or more");
        TrainConfig config;
        config.err = parse_err_type(err);
        config.eta = eta;
        config.n = n;
        config.tol = tol;
        config.batch = batch;
        config.seed = seed;
        config.compare_bp = compare_bp;
        config.threads = threads;
        config.optimizer.kind = parse_optimizer(optimizer);
        config.optimizer.lr = lr;
        config.optimizer.momentum = momentum;
        config.optimizer.weight_decay = weight_decay;
        check_train_config(config);
        DataSplit split = load_data(data, data_options(samples, noise, ratio, seed, data_dir));
        ModelSpec spec = model_for_data(model, split.train.sample_shape, split.train.num_classes);
        if (!loss.empty()) spec.loss = parse_loss(loss);
        return wants_float64(dtype) ? train_run<double>(std::move(split), spec, config, steps, threads)
                                    : train_run<float>(std::move(split), spec, config, steps, threads);
      },
      "pcplay train's run: the same data sets, models, settings and defaults; returns every step's metrics "
      "(the CLI's CSV columns), the final losses and accuracies, and the trained model",
      py::kw_only(), py::arg("data") = "circle", py::arg("model") = "", py::arg("err") = "fixedpred",
      py::arg("eta") = 0.1, py::arg("n") = 20, py::arg("tol") = 0.0, py::arg("batch") = 32, py::arg("steps") = 1000,
      py::arg("optimizer") = "adam", py::arg("lr") = kDefaultLearningRate, py::arg("momentum") = 0.0,
      py::arg("weight_decay") = 0.0, py::arg("seed") = 1, py::arg("compare_bp") = false, py::arg("dtype") = "float32",
      py::arg("threads") = 0, py::arg("samples") = 500, py::arg("noise") = 0.0, py::arg("ratio") = 0.5,
      py::arg("data_dir") = "", py::arg("loss") = "");

  m.def(
      "load_data",
      [](const std::string& name, Index samples, double noise, double ratio, uint64_t seed,
         const std::string& data_dir) {
        const DataSplit d = load_data(name, data_options(samples, noise, ratio, seed, data_dir));
        const py::tuple train = dataset_arrays(d.train), test = dataset_arrays(d.test);
        py::dict out;
        out["train_x"] = train[0];
        out["train_y"] = train[1];
        out["test_x"] = test[0];
        out["test_y"] = test[1];
        out["classes"] = d.train.num_classes;
        return out;
      },
      "a data set as pcplay train reads it (a name, an IDX folder or a CSV file): train_x, train_y, test_x, "
      "test_y as numpy arrays (samples float32 [N, sample shape...], labels int64), and classes",
      py::arg("name"), py::kw_only(), py::arg("samples") = 500, py::arg("noise") = 0.0, py::arg("ratio") = 0.5,
      py::arg("seed") = 1, py::arg("data_dir") = "");

  m.def("err_types", [] {
    std::vector<std::string> names;
    for (const auto& e : err_types()) names.push_back(e.name);
    return names;
  });
  m.def("presets", [] { return model_preset_names(); });
}
