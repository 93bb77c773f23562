#include "settings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "data_io.h"
#include "datasets.h"
#include "file_util.h"
#include "model_file.h"
#include "model.h"

namespace pcplay::ui {

namespace {

bool parse_number(const std::string& text, double lo, double hi, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool parse_flag(const std::string& text, bool& out) {
  if (text != "0" && text != "1" && text != "false" && text != "true") return false;
  out = text == "1" || text == "true";
  return true;
}

bool one_of(const std::string& v, const std::vector<std::string>& allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

// Exact, so that a link reproduces a run.
std::string number(double v) { return shortest_text(v); }

// A value as it may be shown: at most 40 characters, control characters as '?'.
std::string printable(const std::string& s) {
  std::string out = s.substr(0, 40);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 32 || c == 127) c = '?';
  return s.size() > 40 ? out + "..." : out;
}

// A dense net from a link is held to a size a playground can train.
constexpr Index kMaxLinkParameters = 2000000;

// The user's own data: a path to a CSV file or a folder of IDX files, in a
// conservative alphabet (no quotes, brackets, &, ;, $: a link stays inert),
// that does not climb out of a folder with "..".
bool is_data_path(const std::string& v) {
  if (v.empty() || v.size() > 1024) return false;
  for (unsigned char c : v)
    if (!std::isalnum(c) && std::string("._-/~+ =,@:").find(static_cast<char>(c)) == std::string::npos) return false;
  if (("/" + v + "/").find("/../") != std::string::npos) return false;
  return v.find('/') != std::string::npos || has_suffix(v, ".csv");
}

// A model file of the user's (a dropped file in the browser), in the same alphabet.
bool is_model_file_path(const std::string& v) {
  return is_data_path(v) && has_suffix(v, ".json");
}

// Takes `value` when it names one of `list`'s entries (in any case), else
// tells `bad` what was expected.
template <typename E, typename Bad>
void take_named(const std::vector<Named<E>>& list, const std::string& value, E& out, Bad bad) {
  if (const Named<E>* n = find_named(list, value))
    out = n->value;
  else
    bad(name_list(names_of(list)));
}

}  // namespace

std::string racer_name(const Racer& r) { return err_type_name(r.err) + (r.mupc ? ":mupc" : ""); }

std::string racer_label(const Racer& r) { return err_type_label(r.err) + (r.mupc ? ", muPC" : ""); }

bool parse_racer(const std::string& name, Racer& out) {
  const size_t colon = name.find(':');
  const std::string suffix = colon == std::string::npos ? "" : name.substr(colon + 1);
  if (!suffix.empty() && !same_name(suffix, "mupc")) return false;
  const Named<ErrType>* e = find_named(err_types(), name.substr(0, colon));
  if (!e || (colon != std::string::npos && suffix.empty())) return false;
  out = {e->value, !suffix.empty()};
  return true;
}

bool races_mupc(const std::string& model) { return model.rfind("resmlp:", 0) == 0; }

std::string racer_model(const std::string& model, const Racer& r) {
  return r.mupc && races_mupc(model) ? "mupc:" + model.substr(std::string("resmlp:").size()) : model;
}

std::string Settings::fit_race_to_model() {
  const bool any_mupc = std::any_of(compare.begin(), compare.end(), [](const Racer& r) { return r.mupc; });
  if (races_mupc(model) || !any_mupc) return "";
  std::vector<Racer> fitted;
  for (Racer r : compare) {
    r.mupc = false;
    if (std::find(fitted.begin(), fitted.end(), r) == fitted.end()) fitted.push_back(r);
  }
  compare = fitted.size() > 1 ? fitted : std::vector<Racer>();
  err = fitted.front().err;
  // On a mupc: model the flag only repeated the model.
  return is_residual_mlp_name(model) ? "" : "settings: racing without muPC: it needs a resmlp:WIDTH,DEPTH model";
}

const std::vector<std::string>& panel_names() {
  static const std::vector<std::string> names = {"controls", "run",    "loss",   "errors",
                                                 "relaxation", "network", "output", "numbers"};
  return names;
}

bool Settings::operator==(const Settings& o) const { return to_query(*this) == to_query(o); }

bool Settings::needs_reset_from(const Settings& o) const {
  return dataset != o.dataset || noise != o.noise || ratio != o.ratio || seed != o.seed || model != o.model ||
         loss != o.loss || optimizer != o.optimizer || batch != o.batch || compare_bp != o.compare_bp ||
         compare != o.compare;
}

bool Settings::panel_visible(const std::string& name) const { return panels.empty() || one_of(name, panels); }

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string to_query(const Settings& s) {
  std::string panels;
  for (const std::string& p : s.panels) panels += (panels.empty() ? "" : ",") + p;
  std::ostringstream q;
  q << "dataset=" << url_encode(s.dataset) << "&noise=" << number(s.noise) << "&ratio=" << number(s.ratio)
    << "&seed=" << s.seed << "&model=" << url_encode(s.model) << "&err=" << err_type_name(s.err)
    << "&eta=" << number(s.eta) << "&n=" << s.n << "&loss=" << loss_name(s.loss)
    << "&optimizer=" << optimizer_name(s.optimizer) << "&lr=" << number(s.lr)
    << "&batch=" << s.batch << "&compare_bp=" << (s.compare_bp ? 1 : 0);
  if (s.tol > 0) q << "&tol=" << number(s.tol);
  if (!s.compare.empty()) {
    q << "&compare=";
    for (size_t i = 0; i < s.compare.size(); ++i) q << (i ? "," : "") << racer_name(s.compare[i]);
  }
  if (!panels.empty()) q << "&panels=" << url_encode(panels);
  if (s.embed) q << "&embed=1";
  return q.str();
}

Settings from_query(const std::string& query, const Settings& base, std::vector<std::string>* problems) {
  Settings s = base;
  size_t count = 0;
  auto problem = [&](const std::string& what) {
    ++count;
    if (problems && count <= 10) problems->push_back(what);
  };
  std::string q = query;
  if (!q.empty() && (q[0] == '?' || q[0] == '#')) q.erase(0, 1);
  std::stringstream pairs(q);
  std::string pair;
  while (std::getline(pairs, pair, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string key = url_decode(pair.substr(0, eq));
    const std::string value = eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
    auto bad = [&](const std::string& expected) {
      problem("settings: ignoring " + printable(key) + "=\"" + printable(value) + "\" (expected " + expected + ")");
    };
    double v;
    if (key == "dataset") {
      if (is_named_dataset(value) || is_data_path(value)) s.dataset = value;
      else bad(name_list(names_of(named_datasets())) + ", or a CSV file or IDX folder");
    } else if (key == "noise") {
      if (parse_number(value, 0, 0.5, v)) s.noise = v; else bad("a number in [0, 0.5]");
    } else if (key == "ratio") {
      if (parse_number(value, 0.05, 0.95, v)) s.ratio = v; else bad("a number in [0.05, 0.95]");
    } else if (key == "seed") {
      if (parse_number(value, 0, 1e15, v) && v == std::floor(v)) s.seed = static_cast<uint64_t>(v);
      else bad("a whole number");
    } else if (key == "model") {
      bool ok = value == "default" || is_model_preset(value) || is_model_file_path(value);
      if (!ok && (is_dense_name(value) || is_residual_mlp_name(value))) {
        try {  // sized for 784 inputs and 10 classes, the largest data a link can name
          ok = Model<float>(model_for_data(value, {784}, 10)).num_parameters() <= kMaxLinkParameters;
        } catch (const std::exception&) {
        }
      }
      if (ok) s.model = value;
      else bad("default, a built-in model, dense:W1,W2,...:ACTIVATION, mupc: or resmlp:WIDTH,DEPTH[:ACTIVATION] or a .json model file");
    } else if (key == "err") {
      take_named(err_types(), value, s.err, bad);
    } else if (key == "eta") {
      if (parse_number(value, 1e-6, 10, v)) s.eta = v; else bad("a number in (0, 10]");
    } else if (key == "n") {
      if (parse_number(value, 1, 10000, v) && v == std::floor(v)) s.n = static_cast<int>(v); else bad("1 to 10000");
    } else if (key == "tol") {
      if (parse_number(value, 0, 1, v)) s.tol = v; else bad("a number in [0, 1] (0: off)");
    } else if (key == "loss") {
      take_named(loss_kinds(), value, s.loss, bad);
    } else if (key == "optimizer") {
      take_named(optimizer_kinds(), value, s.optimizer, bad);
    } else if (key == "lr") {
      if (parse_number(value, 1e-7, 10, v)) s.lr = v; else bad("a number in (0, 10]");
    } else if (key == "batch") {
      if (parse_number(value, 1, 4096, v) && v == std::floor(v)) s.batch = static_cast<int>(v); else bad("1 to 4096");
    } else if (key == "compare") {  // a comma list of racers; empty: no race
      std::vector<Racer> raced;
      std::stringstream list(value);
      std::string name;
      bool ok = true;
      while (ok && std::getline(list, name, ',')) {
        Racer r;
        ok = parse_racer(name, r);
        if (ok && std::find(raced.begin(), raced.end(), r) == raced.end()) raced.push_back(r);
      }
      if (ok && raced.size() <= kMaxRaced) s.compare = raced;
      else bad("a comma list of up to " + std::to_string(kMaxRaced) + " of " + name_list(names_of(err_types())) +
               ", each with :mupc for a resmlp: model");
    } else if (key == "compare_bp") {
      if (!parse_flag(value, s.compare_bp)) bad("0 or 1");
    } else if (key == "panels") {
      std::vector<std::string> panels;
      std::stringstream list(value);
      std::string p;
      bool ok = true;
      while (std::getline(list, p, ',')) {
        if (one_of(p, panel_names())) panels.push_back(p);
        else ok = false;
      }
      if (ok) s.panels = panels; else bad("a comma-separated list of controls, run, loss, errors, relaxation, network, output, numbers");
    } else if (key == "embed") {
      if (!parse_flag(value, s.embed)) bad("0 or 1");
    } else {
      problem("settings: ignoring unknown key \"" + printable(key) + "\"");
    }
  }
  const std::string unfit = s.fit_race_to_model();
  if (!unfit.empty()) problem(unfit);
  if (problems && count > 10) problems->push_back("settings: ... and " + std::to_string(count - 10) + " more problems");
  return s;
}

}  // namespace pcplay::ui
