// safetensors and the model file: round trips and clean errors on bad input.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include "helpers.h"
#include "metrics.h"
#include "model_file.h"
#include "safetensors.h"

using namespace pcplay;
using namespace pcplay::test;

namespace {

StoredTensor raw(DType dtype, Shape shape, std::vector<unsigned char> bytes) { return {dtype, std::move(shape), std::move(bytes)}; }

std::string header_file(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace

TEST_CASE("safetensors round trip keeps every dtype, shape, value and the metadata") {
  Rng rng(1);
  TensorFile f;
  f.tensors["f32"] = store_tensor(random_tensor<float>({2, 3}, rng));
  f.tensors["f64"] = store_tensor(random_tensor<double>({4}, rng));
  f.tensors["i64"] = store_labels({3, -1, 7});
  std::vector<unsigned char> i32(8);
  const int32_t vals[2] = {-5, 9};
  std::memcpy(i32.data(), vals, 8);
  f.tensors["i32"] = raw(DType::I32, {2}, i32);
  f.tensors["u8"] = raw(DType::U8, {1, 3}, {0, 128, 255});
  f.tensors["scalar"] = raw(DType::F64, {}, std::vector<unsigned char>(8, 0));
  f.tensors["empty"] = raw(DType::F32, {0, 5}, {});
  f.metadata["format"] = "pt";

  const std::string bytes = serialize_safetensors(f);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  CHECK((8 + header_len) % 8 == 0);  // data stays aligned
  const TensorFile back = parse_safetensors(bytes, "mem");
  REQUIRE(back.tensors.size() == f.tensors.size());
  for (const auto& entry : f.tensors) {  // not a structured binding: CAPTURE's lambda (clang 14) cannot take one
    const std::string& name = entry.first;
    const auto& st = entry.second;
    CAPTURE(name);
    CHECK(back.at(name).dtype == st.dtype);
    CHECK(back.at(name).shape == st.shape);
    CHECK(back.at(name).bytes == st.bytes);
  }
  CHECK(back.metadata.at("format") == "pt");
  CHECK(load_labels(back.at("i32"), "i32") == std::vector<int64_t>{-5, 9});
  CHECK(load_tensor<double>(back.at("u8"))[2] == 255.0);

  const std::string path = "formats_roundtrip.safetensors";
  write_safetensors(path, f);
  CHECK(read_safetensors(path).tensors.size() == f.tensors.size());
  std::remove(path.c_str());
}

TEST_CASE("malformed safetensors are rejected with a message naming the problem") {
  const std::string data(8, '\0');
  auto rejects = [](const std::string& bytes, const char* what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(parse_safetensors(bytes, "w.safetensors"), doctest::Contains(what), Error);
  };
  rejects("abc", "shorter than");
  rejects(header_file("{}").substr(0, 9), "truncated");
  rejects(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8), "implausible");
  rejects(header_file("{not json"), "not a JSON object");
  rejects(header_file("[1,2]"), "not a JSON object");
  rejects(header_file(R"({"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}})", data), "unsupported dtype");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data), "non-negative");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,16]}})", data), "outside the file");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data), "needs 12");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                      data),
          "overlap");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data), "bytes 0 to 4 of the data");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data), "ends with 4 bytes");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[1]}})", data), "data_offsets");
  rejects(header_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", data),
          "implausibly large");
  rejects(header_file(R"({"__metadata__":{"k":1}})"), "not a string");
  CHECK_THROWS_WITH_AS(read_safetensors("/nonexistent/w.safetensors"), doctest::Contains("cannot open"), Error);
}

TEST_CASE("parameters are named as PyTorch's state_dict of nested nn.Sequential blocks") {
  ModelSpec spec = dense_spec({4, 3, 2}, "relu", LossKind::MSE);
  spec.blocks[0].insert(spec.blocks[0].begin(), LayerSpec{"identity"});
  Model<float> model(spec);
  std::vector<std::string> names;
  for (const auto& p : model.parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"0.1.weight", "0.1.bias", "1.0.weight", "1.0.bias"});
}

TEST_CASE("weights round trip through safetensors, missing, unexpected and misshapen tensors are errors") {
  Model<double> a(dense_spec({4, 3, 2}, "tanh", LossKind::MSE)), b(a.spec());
  a.init(9);
  TensorFile f;
  store_parameters(a, f);
  load_parameters(b, parse_safetensors(serialize_safetensors(f), "w"));
  for (size_t i = 0; i < a.parameters().size(); ++i)
    CHECK(relative_difference(a.parameters()[i].param->value, b.parameters()[i].param->value) == 0);

  TensorFile missing = f;
  missing.tensors.erase("1.0.bias");
  CHECK_THROWS_WITH_AS(load_parameters(b, missing), doctest::Contains("\"1.0.bias\" is missing"), Error);
  TensorFile extra = f;
  extra.tensors["2.0.weight"] = f.tensors["1.0.bias"];
  CHECK_THROWS_WITH_AS(load_parameters(b, extra), doctest::Contains("unexpected"), Error);
  TensorFile wrong = f;
  wrong.tensors["0.0.weight"] = store_tensor(Tensor<double>({4, 3}));
  CHECK_THROWS_WITH_AS(load_parameters(b, wrong), doctest::Contains("shape"), Error);
}

TEST_CASE("the model file parses, round trips, and rejects bad files naming the problem") {
  const std::string text = R"({"input_shape": [1, 4, 4], "loss": "mse",
    "blocks": [[{"type":"flatten"},{"type":"linear","out":5,"in":16},{"type":"sigmoid"}],
               [{"type":"linear","out":3,"bias":false}]]})";
  ModelSpec spec = parse_model_json(text, "m.json");
  CHECK(spec.input_shape == Shape{1, 4, 4});
  CHECK(spec.loss == LossKind::MSE);
  REQUIRE(spec.blocks.size() == 2);
  CHECK(spec.blocks[1][0].bias == false);
  ModelSpec again = parse_model_json(model_json(spec), "again");
  CHECK(model_json(again) == model_json(spec));
  CHECK(Model<float>(spec).num_parameters() == 16 * 5 + 5 + 5 * 3);

  auto rejects = [](const std::string& json, const char* what) {
    CAPTURE(json);
    CHECK_THROWS_WITH_AS(parse_model_json(json, "m.json"), doctest::Contains(what), Error);
  };
  rejects("{", "m.json: not valid JSON");
  rejects("[]", "JSON object");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"conv9"}]]})", "unknown layer type \"conv9\"");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"linear"}]]})", "linear needs \"out\"");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"linear","out":0}]]})", "positive integer");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"linear","out":"3"}]]})", "positive integer");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"relu","out":3}]]})", "relu takes no \"out\"");
  rejects(R"({"input_shape":[2],"loss":"l1","blocks":[[{"type":"linear","out":3}]]})", "unknown loss");
  rejects(R"({"input_shape":[],"loss":"mse","blocks":[[{"type":"linear","out":3}]]})", "input_shape");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[]})", "blocks");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[]]})", "block 0 must be a non-empty");
  rejects(R"({"input_shape":[2],"loss":"mse","blokcs":[]})", "unknown key \"blokcs\"");
  rejects(R"({"input_shape":[2,2],"loss":"mse","blocks":[[{"type":"linear","out":3}]]})", "add a flatten");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"linear","out":3, "in": 5}]]})", "in=5");
  rejects(R"({"input_shape":[100000],"loss":"mse","blocks":[[{"type":"linear","out":100000}]]})", "more than");
  rejects(R"({"input_shape":[2],"loss":"mse","blocks":[[{"type":"linear","out":3}],[{"type":"flatten"}]], "x":1})",
          "unknown key");
  rejects(R"({"input_shape":[1,8,8],"loss":"mse","blocks":[[{"type":"conv2d","out":3}]]})", "conv2d needs \"kernel\"");
  rejects(R"({"input_shape":[1,8,8],"loss":"mse","blocks":[[{"type":"conv2d","out":3,"kernel":3,"padding":-1}]]})",
          "non-negative");
  rejects(R"({"input_shape":[1,8,8],"loss":"mse","blocks":[[{"type":"maxpool2d","kernel":2,"padding":1}]]})",
          "maxpool2d takes no \"padding\"");
}

TEST_CASE("a model file too large to hold is refused before its weights are made") {
  // Found by the fuzzer: a 28 x 281111 image flattened into a linear layer,
  // 548 million weights, once took 2.2 GB to be read.
  const std::string wide = R"({"input_shape": [1, 28, 281111], "loss": "cross_entropy", "blocks": [
    [{"type": "conv2d", "out": 10, "kernel": 3}, {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}],
    [{"type": "flatten"}, {"type": "linear", "out": 30}], [{"type": "linear", "out": 10}]]})";
  CHECK_THROWS_WITH_AS(parse_model_json(wide, "wide.json"), doctest::Contains("would hold more than 134217728 weights"),
                       Error);
}

TEST_CASE("conv and pool layers round trip through the model file") {
  const std::string text = R"({"input_shape": [3, 9, 9], "loss": "cross_entropy", "blocks": [
    [{"type":"conv2d","out":4,"kernel":3,"stride":2,"padding":1,"in":3}, {"type":"relu"}, {"type":"avgpool2d","kernel":2,"stride":1}],
    [{"type":"maxpool2d","kernel":2}, {"type":"flatten"}, {"type":"linear","out":2}]]})";
  ModelSpec spec = parse_model_json(text, "m.json");
  CHECK(spec.blocks[0][0].stride == 2);
  CHECK(spec.blocks[0][0].padding == 1);
  CHECK(spec.blocks[1][0].stride == 0);  // = kernel
  CHECK(model_json(parse_model_json(model_json(spec), "again")) == model_json(spec));
  CHECK(Model<double>(spec).shape_at(1) == Shape{4, 4, 4});
}

TEST_CASE("dense nets by name: dense:W1,W2,...:ACT") {
  const ModelSpec spec = dense_model("dense:8,4:relu", {1, 5, 5}, 3);
  REQUIRE(spec.blocks.size() == 3);
  CHECK(spec.blocks[0][0].type == "flatten");
  CHECK(spec.blocks[0][1].out == 8);
  CHECK(spec.blocks[1].back().type == "relu");
  CHECK(spec.blocks[2][0].out == 3);
  CHECK(Model<float>(spec).num_parameters() == 25 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3);
  CHECK(dense_name({8, 4}, "relu") == "dense:8,4:relu");
  CHECK(dense_model("dense::tanh", {2}, 2).blocks.size() == 1);
  CHECK_THROWS_AS(dense_model("dense:8,x:relu", {2}, 2), Error);
  CHECK_THROWS_AS(dense_model("dense:8:gelu", {2}, 2), Error);
  CHECK_THROWS_AS(dense_model("dense:8", {2}, 2), Error);
}

TEST_CASE("model presets build") {
  for (const std::string& name : model_preset_names()) {
    CAPTURE(name);
    CHECK_NOTHROW(Model<float>(model_preset(name)));
  }
  CHECK_THROWS_AS(resolve_model("no-such-model-or-file.json"), Error);
}

TEST_CASE("the metrics' columns carry each value of a step's record under its name") {
  StepRecord r;
  r.step = 7;
  r.epoch = 1.5;
  r.train = {0.25, 0.75};
  r.test = {0.5, 1};
  r.bp_train = {0.125, 0.875};
  r.bp_test = {2, 0};
  r.agreement = {{0.1, 30}, {0.2, 45}};
  r.iterations = 13;
  r.energy_rose = true;
  r.seconds = 0.001;
  CHECK(metrics_csv_header(2, true) ==
        "step,epoch,train_loss,train_accuracy,test_loss,test_accuracy,bp_train_loss,bp_train_accuracy,bp_test_loss,"
        "bp_test_accuracy,rel_error_1,rel_error_2,angle_1,angle_2,iterations,energy_rose,seconds\n");
  CHECK(metrics_csv_row(r, 2, true) == "7,1.5,0.25,0.75,0.5,1,0.125,0.875,2,0,0.1,0.2,30,45,13,1,0.001\n");
  CHECK(metrics_csv_header(2, false) ==
        "step,epoch,train_loss,train_accuracy,test_loss,test_accuracy,iterations,energy_rose,seconds\n");
  CHECK(metrics_csv_row(r, 2, false) == "7,1.5,0.25,0.75,0.5,1,13,1,0.001\n");
  r.agreement.pop_back();  // a layer the record lacks
  CHECK(metrics_csv_row(r, 2, true) == "7,1.5,0.25,0.75,0.5,1,0.125,0.875,2,0,0.1,nan,30,nan,13,1,0.001\n");
}

TEST_CASE("CSV numbers are the shortest text that reads back as the same number (a float's as a float)") {
  CHECK(csv_number(4000) == "4000");
  CHECK(csv_number(static_cast<double>(0.1f)) == "0.1");  // a float32 run's value
  CHECK(csv_number(0.1) == "0.1");
  const double third = 1.0 / 3.0;
  CHECK(std::strtod(csv_number(third).c_str(), nullptr) == third);  // a float64 run's, to the last bit
  CHECK(csv_number(third).size() == 18);
  CHECK(csv_number(std::nan("")) == "nan");
}
