#include "model_file.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "error.h"
#include "file_util.h"

namespace pcplay {

using json = nlohmann::json;

namespace {

// An integer in [least, 2^31], or an Error naming the key.
Index integer_at_least(const json& j, int64_t least, const std::string& what) {
  if (!j.is_number_integer() || j.get<int64_t>() < least || j.get<int64_t>() > (int64_t(1) << 31))
    throw Error(what + (least > 0 ? " must be a positive integer, got " : " must be a non-negative integer, got ") +
                j.dump());
  return static_cast<Index>(j.get<int64_t>());
}

Index positive_int(const json& j, const std::string& what) { return integer_at_least(j, 1, what); }

Index non_negative_int(const json& j, const std::string& what) { return integer_at_least(j, 0, what); }

// The keys each layer type takes; the first `required` of them must be there.
struct LayerKeys {
  std::vector<std::string> keys;
  size_t required;
};

const LayerKeys& layer_keys(const std::string& type) {
  static const LayerKeys none{{}, 0}, linear{{"out", "in", "bias", "init"}, 1},
      conv{{"out", "kernel", "in", "bias", "stride", "padding", "init"}, 2}, pool{{"kernel", "stride"}, 1},
      scale{{"factor"}, 1};
  if (type == "linear") return linear;
  if (type == "scale") return scale;
  if (type == "conv2d") return conv;
  if (type == "maxpool2d" || type == "avgpool2d") return pool;
  return none;
}

LayerSpec parse_layer(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw Error("a layer must be an object with a \"type\"");
  LayerSpec spec;
  spec.type = j["type"].get<std::string>();
  const auto& types = layer_types();
  if (std::find(types.begin(), types.end(), spec.type) == types.end())
    throw Error("unknown layer type \"" + spec.type + "\"");
  const LayerKeys& allowed = layer_keys(spec.type);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const std::string what = "\"" + key + "\"";
    if (key == "type") continue;
    if (std::find(allowed.keys.begin(), allowed.keys.end(), key) == allowed.keys.end())
      throw Error(spec.type + " takes no " + what);
    if (key == "out") spec.out = positive_int(it.value(), what);
    if (key == "in") spec.in = positive_int(it.value(), what);
    if (key == "kernel") spec.kernel = positive_int(it.value(), what);
    if (key == "stride") spec.stride = positive_int(it.value(), what);
    if (key == "padding") spec.padding = non_negative_int(it.value(), what);
    if (key == "bias") {
      if (!it.value().is_boolean()) throw Error("\"bias\" must be true or false");
      spec.bias = it.value().get<bool>();
    }
    if (key == "init") {
      if (it.value() != "normal" && it.value() != "pytorch") throw Error("\"init\" must be \"pytorch\" or \"normal\"");
      spec.normal_init = it.value() == "normal";
    }
    if (key == "factor") {
      if (!it.value().is_number() || !std::isfinite(it.value().get<double>()))
        throw Error("\"factor\" must be a finite number, got " + it.value().dump());
      spec.factor = it.value().get<double>();
    }
  }
  for (size_t k = 0; k < allowed.required; ++k)
    if (!j.contains(allowed.keys[k])) throw Error(spec.type + " needs \"" + allowed.keys[k] + "\"");
  return spec;
}

json layer_json(const LayerSpec& spec) {
  json j = {{"type", spec.type}};
  const LayerKeys& allowed = layer_keys(spec.type);
  auto has = [&](const char* key) { return std::find(allowed.keys.begin(), allowed.keys.end(), key) != allowed.keys.end(); };
  if (has("in") && spec.in) j["in"] = spec.in;
  if (has("out")) j["out"] = spec.out;
  if (has("kernel")) j["kernel"] = spec.kernel;
  if (has("stride") && spec.stride) j["stride"] = spec.stride;
  if (has("padding") && spec.padding) j["padding"] = spec.padding;
  if (has("bias") && !spec.bias) j["bias"] = false;
  if (has("init") && spec.normal_init) j["init"] = "normal";
  if (has("factor")) j["factor"] = spec.factor;
  return j;
}

}  // namespace

ModelSpec parse_model_json(const std::string& text, const std::string& source) {
  try {
    json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) throw Error("not valid JSON");
    if (!root.is_object()) throw Error("the model must be a JSON object");
    ModelSpec spec;
    for (auto it = root.begin(); it != root.end(); ++it)
      if (it.key() != "input_shape" && it.key() != "loss" && it.key() != "blocks" && it.key() != "name" &&
          it.key() != "description")
        throw Error("unknown key \"" + it.key() + "\"");
    if (!root.contains("input_shape") || !root["input_shape"].is_array() || root["input_shape"].empty())
      throw Error("\"input_shape\" must be a non-empty array of positive integers");
    for (const json& d : root["input_shape"]) spec.input_shape.push_back(positive_int(d, "\"input_shape\""));
    if (!root.contains("loss") || !root["loss"].is_string()) throw Error("\"loss\" must be \"mse\" or \"cross_entropy\"");
    spec.loss = parse_loss(root["loss"].get<std::string>());
    if (!root.contains("blocks") || !root["blocks"].is_array() || root["blocks"].empty())
      throw Error("\"blocks\" must be a non-empty array of blocks");
    for (size_t b = 0; b < root["blocks"].size(); ++b) {
      // A block is its layers, or {"residual": true, "layers": [...]}.
      const json& entry = root["blocks"][b];
      const std::string where = "block " + std::to_string(b);
      bool residual = false;
      if (entry.is_object()) {
        for (auto it = entry.begin(); it != entry.end(); ++it)
          if (it.key() != "residual" && it.key() != "layers") throw Error(where + ": unknown key \"" + it.key() + "\"");
        if (!entry.contains("residual") || !entry["residual"].is_boolean())
          throw Error(where + ": \"residual\" must be true or false");
        residual = entry["residual"].get<bool>();
      }
      const json& block = entry.is_object() && entry.contains("layers") ? entry["layers"] : entry;
      if (!block.is_array() || block.empty())
        throw Error(where + " must be a non-empty array of layers, or an object with \"residual\" and \"layers\"");
      BlockSpec layers;
      layers.residual = residual;
      for (size_t i = 0; i < block.size(); ++i) {
        try {
          layers.push_back(parse_layer(block[i]));
        } catch (const Error& e) {
          throw with_context("block " + std::to_string(b) + " layer " + std::to_string(i), e);
        }
      }
      spec.blocks.push_back(std::move(layers));
    }
    Model<float> check(spec);  // the shapes must chain
    return spec;
  } catch (const Error& e) {
    throw with_context(source, e);
  }
}

std::string model_json(const ModelSpec& spec) {
  json blocks = json::array();
  for (const BlockSpec& block : spec.blocks) {
    json layers = json::array();
    for (const LayerSpec& l : block) layers.push_back(layer_json(l));
    blocks.push_back(block.residual ? json{{"residual", true}, {"layers", layers}} : layers);
  }
  json root = {{"input_shape", spec.input_shape}, {"loss", loss_name(spec.loss)}, {"blocks", blocks}};
  return root.dump(2) + "\n";
}

ModelSpec read_model_file(const std::string& path) { return parse_model_json(read_file(path), path); }

const std::vector<std::string>& model_preset_names() {
  static const std::vector<std::string> names = {"paper-mnist", "paper-cifar", "mlp-mnist", "mlp-2d", "mlp-2d-deep"};
  return names;
}

std::string model_preset_list() {
  std::string s;
  for (const std::string& n : model_preset_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

bool is_model_preset(const std::string& name) {
  const auto& names = model_preset_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

ModelSpec model_preset(const std::string& name) {
  auto linear = [](Index out) { return LayerSpec{"linear", out}; };
  auto act = [](const char* type) { return LayerSpec{type}; };
  auto conv = [](Index out, Index padding) { return LayerSpec{"conv2d", out, 0, true, 3, 1, padding}; };
  const LayerSpec maxpool{"maxpool2d", 0, 0, true, 2};
  ModelSpec spec;
  spec.loss = LossKind::CrossEntropy;
  if (name == "paper-mnist") {  // the paper's MNIST CNN: L = 5, 32,695 parameters
    spec.input_shape = {1, 28, 28};
    spec.blocks = {{conv(10, 0), act("relu"), maxpool},
                   {conv(5, 0), act("relu"), act("flatten")},
                   {linear(50), act("relu")},
                   {linear(30), act("relu")},
                   {linear(10)}};
  } else if (name == "paper-cifar") {  // the paper's CIFAR-10 CNN: L = 6, 4,633,738 parameters
    spec.input_shape = {3, 32, 32};
    spec.blocks = {{conv(64, 1), act("relu")},
                   {conv(128, 1), act("relu"), maxpool},
                   {conv(256, 1), act("relu"), maxpool, act("flatten")},
                   {linear(256), act("relu")},
                   {linear(256), act("relu")},
                   {linear(10)}};
  } else if (name == "mlp-mnist") {  // a dense net for 28×28 images: L = 3
    spec.input_shape = {1, 28, 28};
    spec.blocks = {{act("flatten"), linear(128), act("relu")}, {linear(64), act("relu")}, {linear(10)}};
  } else if (name == "mlp-2d") {  // 2-D toy data, 2 classes: three PC layers
    spec.input_shape = {2};
    spec.blocks = {{linear(16), act("tanh")}, {linear(16), act("tanh")}, {linear(2)}};
  } else if (name == "mlp-2d-deep") {  // five PC layers, as the paper's MNIST net has
    spec.input_shape = {2};
    spec.blocks = {{linear(16), act("tanh")}, {linear(16), act("tanh")}, {linear(16), act("tanh")},
                   {linear(16), act("tanh")}, {linear(2)}};
  } else {
    throw Error("unknown model \"" + name + "\"");
  }
  return spec;
}

namespace {
// A whole number least..most written out in full ("12"; not "", "12x" or "1e3").
bool parse_count(const std::string& item, long least, long most, Index& out) {
  char* end = nullptr;
  const long value = std::strtol(item.c_str(), &end, 10);
  if (item.empty() || end != item.c_str() + item.size() || value < least || value > most) return false;
  out = static_cast<Index>(value);
  return true;
}
}  // namespace

bool is_dense_name(const std::string& name) { return name.rfind("dense:", 0) == 0; }

std::string residual_mlp_name(bool mupc, Index width, Index depth, const std::string& activation) {
  return (mupc ? "mupc:" : "resmlp:") + std::to_string(width) + "," + std::to_string(depth) + ":" + activation;
}

std::string dense_name(const std::vector<Index>& widths, const std::string& activation) {
  std::string s = "dense:";
  for (size_t i = 0; i < widths.size(); ++i) s += (i ? "," : "") + std::to_string(widths[i]);
  return s + ":" + activation;
}

const std::vector<std::string>& dense_activations() {
  static const std::vector<std::string> acts = {"tanh", "relu", "sigmoid", "identity"};
  return acts;
}

ModelSpec dense_model(const std::string& name, const Shape& input_shape, Index classes) {
  const size_t colon = name.find(':', 6);
  if (!is_dense_name(name) || colon == std::string::npos)
    throw Error("\"" + name + "\" is not of the form dense:W1,W2,...:ACTIVATION");
  const std::string act = name.substr(colon + 1);
  const auto& acts = dense_activations();
  if (std::find(acts.begin(), acts.end(), act) == acts.end())
    throw Error("dense: activation \"" + act + "\" is not " + name_list(acts));
  std::vector<Index> widths;
  std::string list = name.substr(6, colon - 6), item;
  for (size_t start = 0; start < list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    item = list.substr(start, comma - start);
    Index w = 0;
    if (!parse_count(item, 1, 4096, w)) throw Error("dense: width \"" + item + "\" is not 1..4096");
    widths.push_back(w);
    start = comma + 1;
  }
  if (widths.size() > 16) throw Error("dense: at most 16 hidden layers");
  ModelSpec spec;
  spec.input_shape = input_shape;
  for (size_t i = 0; i <= widths.size(); ++i) {
    std::vector<LayerSpec> block;
    if (i == 0 && input_shape.size() > 1) block.push_back({"flatten"});
    block.push_back({"linear", i < widths.size() ? widths[i] : std::max<Index>(classes, 2)});
    if (i < widths.size()) block.push_back({act});
    spec.blocks.push_back(block);
  }
  return spec;
}

bool is_residual_mlp_name(const std::string& name) {
  return name.rfind("mupc:", 0) == 0 || name.rfind("resmlp:", 0) == 0;
}

// μPC's (mupc:):
//   f_1(x) = a_1 W_1 x;  f_l(z) = z + a_l W_l φ(z), l = 2..L−1;  f_L(z) = a_L W_L φ(z)
//   a_1 = 1/√D, a_l = 1/√(N·L), a_L = 1/N; W ~ N(0, 1), no biases (docs/algorithms.md).
// The standard parameterisation (resmlp:) is the same net with every a = 1
// and PyTorch's default initialisation: what μPC is measured against.
ModelSpec residual_mlp_model(const std::string& name, const Shape& input_shape, Index classes) {
  const bool mu = name.rfind("mupc:", 0) == 0;
  const std::string prefix = mu ? "mupc:" : "resmlp:", form = prefix + "WIDTH,DEPTH[:ACTIVATION]";
  if (!is_residual_mlp_name(name)) throw Error("\"" + name + "\" is not of the form mupc:WIDTH,DEPTH[:ACTIVATION]");
  const size_t start = prefix.size(), comma = name.find(',', start), colon = name.find(':', start);
  const std::string act = colon == std::string::npos ? "relu" : name.substr(colon + 1);
  auto number = [&](const std::string& item, const char* what, long least, long most) {
    Index value = 0;
    if (!parse_count(item, least, most, value))
      throw Error(prefix + " " + what + " \"" + item + "\" is not " + std::to_string(least) + ".." +
                  std::to_string(most) + " (" + form + ")");
    return value;
  };
  if (comma == std::string::npos || comma > colon) throw Error("\"" + name + "\" is not of the form " + form);
  const Index N = number(name.substr(start, comma - start), "width", 1, 4096);
  const Index L = number(name.substr(comma + 1, colon == std::string::npos ? std::string::npos : colon - comma - 1),
                         "depth", 2, 1024);
  const auto& acts = dense_activations();
  if (std::find(acts.begin(), acts.end(), act) == acts.end())
    throw Error(prefix + " activation \"" + act + "\" is not " + name_list(acts));
  const double D = static_cast<double>(shape_numel(input_shape));
  auto weights = [&](Index out) {
    LayerSpec w{"linear", out, 0, /*bias=*/false};
    w.normal_init = mu;
    return w;
  };
  // W, then a's scale layer (none in the standard parameterisation).
  auto scaled = [&](BlockSpec block, Index out, double a) {
    block.push_back(weights(out));
    if (mu) {
      LayerSpec s{"scale"};
      s.factor = a;
      block.push_back(s);
    }
    return block;
  };
  ModelSpec spec;
  spec.input_shape = input_shape;
  BlockSpec first;
  if (input_shape.size() > 1) first.push_back({"flatten"});
  spec.blocks.push_back(scaled(first, N, 1 / std::sqrt(D)));
  for (Index l = 2; l < L; ++l) {
    BlockSpec middle = scaled({{act}}, N, 1 / std::sqrt(static_cast<double>(N * L)));
    middle.residual = true;
    spec.blocks.push_back(middle);
  }
  spec.blocks.push_back(scaled({{act}}, std::max<Index>(classes, 2), 1 / static_cast<double>(N)));
  return spec;
}

ModelSpec default_model_for(const Shape& sample_shape, Index num_classes) {
  if (sample_shape == Shape{2} && num_classes <= 2) return model_preset("mlp-2d");
  if (sample_shape == Shape{1, 28, 28} && num_classes <= 10) return model_preset("paper-mnist");
  ModelSpec spec;
  spec.input_shape = sample_shape;
  std::vector<LayerSpec> first;
  if (sample_shape.size() > 1) first.push_back({"flatten"});
  first.push_back({"linear", 64});
  first.push_back({"tanh"});
  spec.blocks = {first, {{"linear", 32}, {"tanh"}}, {{"linear", std::max<Index>(num_classes, 2)}}};
  return spec;
}

ModelSpec model_for_data(const std::string& name, const Shape& sample_shape, Index num_classes) {
  if (name.empty() || name == "default") return default_model_for(sample_shape, num_classes);
  if (is_dense_name(name)) return dense_model(name, sample_shape, num_classes);
  if (is_residual_mlp_name(name)) return residual_mlp_model(name, sample_shape, num_classes);
  return resolve_model(name);
}

ModelSpec resolve_model(const std::string& name_or_path) {
  if (is_dense_name(name_or_path) || is_residual_mlp_name(name_or_path))
    throw Error("a " + name_or_path + " model takes its input and output sizes from the data: use it with train");
  return is_model_preset(name_or_path) ? model_preset(name_or_path) : read_model_file(name_or_path);
}

}  // namespace pcplay
