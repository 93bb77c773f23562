// The model file (JSON):
//   {"input_shape": [784], "loss": "mse" | "cross_entropy",
//    "blocks": [[{"type": "linear", "out": 50}, {"type": "relu"}],
//               [{"type": "linear", "out": 10}]]}
// linear takes "out", optionally "in" (checked) and "bias" (default true);
// conv2d takes "out" and "kernel", optionally "in", "bias", "stride" (1) and
// "padding" (0); maxpool2d and avgpool2d take "kernel", optionally "stride"
// (= kernel); relu, tanh, sigmoid, identity and flatten take nothing else;
// scale takes "factor" (y = factor · x). linear and conv2d take "init":
// "pytorch" (the default) or "normal" (weights N(0, 1), biases 0). A block is
// an array of layers, or {"residual": true, "layers": [...]} for
// f(z) = z + layers(z), whose layers keep the shape.
#pragma once

#include <string>
#include <vector>

#include "model.h"

namespace pcplay {

// Throws Error naming `source` and the offending key.
ModelSpec parse_model_json(const std::string& text, const std::string& source);
std::string model_json(const ModelSpec& spec);  // pretty-printed, parses back to spec
ModelSpec read_model_file(const std::string& path);

// Built-in models by name ("mlp-2d", ...), and their names.
const std::vector<std::string>& model_preset_names();
std::string model_preset_list();  // "paper-mnist, paper-cifar, ...", for help texts
bool is_model_preset(const std::string& name);
ModelSpec model_preset(const std::string& name);
// A dense net by name, "dense:W1,W2,...:ACT" (hidden widths and their
// activation; "dense::ACT" has no hidden layer), for samples of `input_shape`
// and `classes` outputs: one PC layer per hidden layer, plus the output layer.
bool is_dense_name(const std::string& name);
const std::vector<std::string>& dense_activations();  // tanh, relu, sigmoid, identity
ModelSpec dense_model(const std::string& name, const Shape& input_shape, Index classes);
std::string dense_name(const std::vector<Index>& widths, const std::string& activation);

// A residual MLP by name, for samples of `input_shape` and `classes`
// outputs: DEPTH blocks of WIDTH, the middle ones residual, no biases, ReLU
// unless told. "mupc:WIDTH,DEPTH[:ACTIVATION]" is μPC's (weights N(0, 1)
// under its constant scales); "resmlp:WIDTH,DEPTH[:ACTIVATION]" the same net
// in the standard parameterisation (PyTorch's initialisation, no scales).
bool is_residual_mlp_name(const std::string& name);
ModelSpec residual_mlp_model(const std::string& name, const Shape& input_shape, Index classes);
std::string residual_mlp_name(bool mupc, Index width, Index depth, const std::string& activation);

// A preset name or a model file path.
ModelSpec resolve_model(const std::string& name_or_path);
// A model for data of this sample shape and number of classes: "" or
// "default" (default_model_for), a dense:..., mupc:... or resmlp:... name, a
// preset or a model file.
ModelSpec model_for_data(const std::string& name, const Shape& sample_shape, Index num_classes);
// A sensible model for samples of this shape: mlp-2d for 2-D points,
// paper-mnist for 28×28 images with 10 classes, else a dense net.
ModelSpec default_model_for(const Shape& sample_shape, Index num_classes);

}  // namespace pcplay
