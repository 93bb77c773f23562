// The settings of a playground run, and their URL-style query string
// ("dataset=spiral&err=strict&eta=0.1&n=20&..."): the desktop's --state and,
// later, the web permalink. Unknown keys and bad values are reported and
// ignored, never fatal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loss.h"
#include "optim.h"
#include "pc_infer.h"

namespace pcplay::ui {

// One algorithm of a race: an error type, and the parameterisation it trains
// the model under. A residual MLP (resmlp:) can race in μPC's too ("epc:mupc":
// the same width, depth and activation as mupc:, its own initial weights).
struct Racer {
  ErrType err = ErrType::FixedPred;
  bool mupc = false;
  bool operator==(const Racer& o) const { return err == o.err && mupc == o.mupc; }
  bool operator!=(const Racer& o) const { return !(*this == o); }
};

std::string racer_name(const Racer& r);   // "epc", "epc:mupc"
std::string racer_label(const Racer& r);  // "ePC (error-based)", "ePC (error-based), muPC"
// Reads racer_name's form (the error type in any case); false when it is not one.
bool parse_racer(const std::string& name, Racer& out);
// The model a racer trains: the mupc: form of a resmlp: model for a μPC racer,
// else `model` as chosen.
std::string racer_model(const std::string& model, const Racer& r);
// Whether a μPC racer differs from the standard one: the model is a resmlp: net.
bool races_mupc(const std::string& model);

struct Settings {
  std::string dataset = "spiral";  // a named data set (named_datasets()), or a path
  double noise = 0.0;              // toy sets: 0..0.5
  double ratio = 0.5;              // toy sets: share used for training
  uint64_t seed = 1;               // data, initial weights, batch order
  // A preset or dense name, or "default" (the CLI's model for the data). A
  // first visit trains the spiral: two ReLU layers of 32 pass test accuracy
  // 0.9 within a few hundred steps, where mlp-2d's tanh pair sits on the
  // spiral's plateau for thousands.
  std::string model = "dense:32,32:relu";
  ErrType err = ErrType::FixedPred;
  // A race: up to kMaxRaced algorithms trained side by side from the same
  // initial weights (a μPC racer: its own) on the same batches, with the same
  // eta, n and tol (empty: err alone).
  std::vector<Racer> compare;
  double eta = 0.1;
  int n = 20;
  double tol = 0;  // the stopping rule; 0: every step makes n iterations
  LossKind loss = LossKind::CrossEntropy;
  OptimizerKind optimizer = OptimizerKind::Adam;
  double lr = 0.01;  // the CLI's 0.003 needs three times the steps to learn the spiral
  int batch = 32;
  bool compare_bp = true;
  std::vector<std::string> panels;  // the visible panels; empty: all
  bool embed = false;               // a tutorial's iframe: only the panels, a slim run bar instead of the controls

  bool operator==(const Settings& o) const;
  // Whether changing from `o` to this needs a new run (data, model, loss,
  // batch...) or can continue the current one (lr, err, eta, n, tol).
  bool needs_reset_from(const Settings& o) const;
  bool panel_visible(const std::string& name) const;
  // The algorithms trained: the race, or err alone.
  std::vector<Racer> raced() const { return compare.empty() ? std::vector<Racer>{{err, false}} : compare; }
  // Fits the race to the model: μPC racers only where races_mupc(model);
  // returns a line saying what was dropped, or "".
  std::string fit_race_to_model();
};

constexpr size_t kMaxRaced = 4;

// The panels a user can show or hide (the `panels` key).
const std::vector<std::string>& panel_names();

std::string to_query(const Settings& s);
// Starts from `base`; each unknown key or bad value adds a line to `problems`.
Settings from_query(const std::string& query, const Settings& base, std::vector<std::string>* problems);

std::string url_decode(const std::string& s);
std::string url_encode(const std::string& s);

}  // namespace pcplay::ui
