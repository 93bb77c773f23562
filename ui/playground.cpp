#include "playground.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "datasets.h"
#include "file_util.h"
#include "model_file.h"
#include "plot.h"
#include "svg_plot.h"

namespace pcplay::ui {

namespace {

// Half a 60 fps frame for training when there is no training thread.
constexpr double kTrainingSliceSeconds = 0.008;
// Points drawn per split on each of a race's small boundary plots.
constexpr size_t kRacePoints = 300;

// A combo over one of core's named lists (error types, losses...) that edits `value`.
template <typename E>
void choice(const char* label, E& value, const std::vector<Named<E>>& options) {
  if (ImGui::BeginCombo(label, named(options, value).label)) {
    for (const Named<E>& o : options)
      if (ImGui::Selectable(o.label, o.value == value)) value = o.value;
    ImGui::EndCombo();
  }
}

// A combo over names that edits `value` (shown as it is when none of them); true when it changed.
bool choice(const char* label, std::string& value, const std::vector<std::string>& options) {
  bool changed = false;
  if (ImGui::BeginCombo(label, value.c_str())) {
    for (const std::string& o : options)
      if (ImGui::Selectable(o.c_str(), o == value)) {
        value = o;
        changed = true;
      }
    ImGui::EndCombo();
  }
  return changed;
}

// One quantity of every step in the history, as a plot's series takes it.
template <typename V = float, typename F>
std::vector<V> column(const std::vector<StepRecord>& h, F value) {
  std::vector<V> v;
  v.reserve(h.size());
  for (const StepRecord& r : h) v.push_back(static_cast<V>(value(r)));
  return v;
}

double step_of(const StepRecord& r) { return static_cast<double>(r.step); }
double train_loss(const StepRecord& r) { return r.train.loss; }
double train_accuracy(const StepRecord& r) { return r.train.accuracy; }
double test_loss(const StepRecord& r) { return r.test.loss; }
double test_accuracy(const StepRecord& r) { return r.test.accuracy; }
double bp_train_loss(const StepRecord& r) { return r.bp_train.loss; }
double bp_test_accuracy(const StepRecord& r) { return r.bp_test.accuracy; }
// Layer l's (0-based) agreement with backprop, NaN where the step has none.
GradientAgreement agreement_at(const StepRecord& r, size_t l) {
  return l < r.agreement.size() ? r.agreement[l] : GradientAgreement{NAN, NAN};
}

// |eps| per layer from the lead's last inference iteration: the colour of each block.
std::vector<double> layer_errors(const Snapshot& s) {
  if (s.lanes.empty() || s.lanes.front().sweeps.empty()) return {};
  return s.lanes.front().sweeps.back().eps_norm;
}

// Each racer keeps its colour in every race, here and in the SVG export: the
// palette's entry at its error type's place in err_types(), the next five for μPC's.
int palette_index(const Racer& r) {
  const auto& types = err_types();
  for (size_t i = 0; i < types.size(); ++i)
    if (types[i].value == r.err) return static_cast<int>(i + (r.mupc ? types.size() : 0));
  return 0;
}
ImU32 lane_color(const Racer& r, float alpha = 1.0f) { return plot::color(palette_index(r), alpha); }

ImVec4 lane_text_color(const Racer& r) { return ImGui::ColorConvertU32ToFloat4(lane_color(r)); }

constexpr Racer kBackprop{ErrType::Exact, false};
// The backprop twin's: Exact's in a race, else the second colour beside PC's first.
ImU32 twin_color(bool race) { return race ? lane_color(kBackprop) : plot::color(1); }

// "Strict PC", or "Strict PC vs ePC vs Exact" for a race.
std::string race_label(const Settings& s) {
  std::string label;
  for (const Racer& r : s.raced()) label += (label.empty() ? "" : " vs ") + racer_label(r);
  return label;
}

// The backprop twin's curves are drawn when backprop is compared and no lane is backprop itself.
bool draws_twin(const Settings& s) {
  const std::vector<Racer> raced = s.raced();
  return s.compare_bp && std::find(raced.begin(), raced.end(), kBackprop) == raced.end();
}

bool relaxes_racer(const Racer& r) { return relaxes(r.err); }

// A titled separator (ImGui 1.86 has no SeparatorText).
void section(const char* title) {
  ImGui::Spacing();
  ImGui::TextColored(ImVec4(0.25f, 0.35f, 0.55f, 1), "%s", title);
  ImGui::Separator();
}

}  // namespace

Playground::Playground(Settings settings, std::string data_dir, std::string export_dir, Run::Mode mode)
    : settings_(std::move(settings)), data_dir_(std::move(data_dir)), export_dir_(std::move(export_dir)) {
  run_ = std::make_unique<Run>(settings_, data_dir_, mode);
  run_->set_speed(speed_);
  snapshot_ = run_->snapshot();
}

void Playground::apply(const Settings& next) {
  settings_ = next;
  settings_.fit_race_to_model();  // a model without μPC's form drops its racers
  run_->apply(settings_);
}

void Playground::play() {
  if (waiting_) play_when_loaded_ = true;
  else run_->play();
}

void Playground::pause() {
  play_when_loaded_ = false;
  run_->pause();
}

void Playground::reset() {
  play_when_loaded_ = false;
  retry_data_ = true;
  run_->reset();
}

// A data set that is still downloading: the run waits (its failed load is not
// shown), and starts afresh once the data is there.
void Playground::check_data() {
  if (!data_availability) return;
  const DataAvailability a = data_availability(settings_.dataset, retry_data_);
  retry_data_ = false;
  if (!a.ready) {
    waiting_ = a;
    return;
  }
  if (!waiting_) return;
  waiting_.reset();
  run_->reset();
  if (play_when_loaded_) run_->play();
  play_when_loaded_ = false;
}

void Playground::frame() {
  check_data();
  run_->tick(kTrainingSliceSeconds);  // without a training thread: a slice of each frame
  snapshot_ = run_->snapshot();
  run_->update_history(history_, history_generation_);
  const Snapshot& s = *snapshot_;
  guidance_ = run_->settled(s) && s.settings == settings_ ? ui::guidance(settings_, history_) : std::vector<Guidance>();

  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGui::Begin("pcplay", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoBringToFrontOnFocus);
  // Three columns (controls | numbers, curves, relaxation | network, output);
  // a column with no visible panel gives its room to the others. In embed
  // mode the controls give way to a slim run bar on top.
  auto visible = [&](const char* panel) { return settings_.panel_visible(panel); };
  const bool left = visible("controls") && !(settings_.embed && settings_.panels.empty());
  const bool middle = visible("numbers") || visible("loss") || visible("errors") || visible("relaxation");
  const bool right = visible("network") || visible("output");
  if (settings_.embed && visible("run")) run_buttons(s, true);
  for (const std::string& n : notices)
    if (!left) ImGui::TextWrapped("%s", n.c_str());
  const float spacing = ImGui::GetStyle().ItemSpacing.x;
  const float width = ImGui::GetContentRegionAvail().x, height = ImGui::GetContentRegionAvail().y;
  auto draw_left = [&](float w) {
    ImGui::BeginChild("left", ImVec2(w, height), true);
    controls(s);
    for (const std::string& n : notices) ImGui::TextWrapped("%s", n.c_str());
    ImGui::EndChild();
    ImGui::SameLine();
  };
  auto draw_middle = [&] {
    if (visible("numbers")) numbers(s);
    if (visible("loss") || visible("errors")) curves(s);
    if (visible("relaxation")) relaxation(s);
  };
  auto draw_right = [&] {
    if (visible("network")) network(s);
    if (visible("output")) output(s);
  };
  // A phone-sized window: the run's buttons, the controls folded away under a
  // header, and the panels stacked at the full width in one scrolling column.
  if (width < ImGui::GetFontSize() * 40 && (middle || right)) {
    ImGui::BeginChild("stack", ImVec2(0, height), false);
    if (left) {
      run_buttons(s, false);
      if (ImGui::CollapsingHeader("Controls")) controls(s, false);
      for (const std::string& n : notices) ImGui::TextWrapped("%s", n.c_str());
    }
    draw_middle();
    draw_right();
    ImGui::EndChild();
    ImGui::End();
    return;
  }
  // A narrow window (a tutorial's column): the controls, and the rest
  // stacked in one scrolling column.
  if (width < ImGui::GetFontSize() * 70 && (middle || right)) {
    if (left) draw_left(std::clamp(width * 0.38f, 200.0f, 300.0f));
    ImGui::BeginChild("stack", ImVec2(0, height), false);
    draw_middle();
    draw_right();
    ImGui::EndChild();
    ImGui::End();
    return;
  }
  float left_w = left ? std::max(270.0f, width * 0.22f) : 0, right_w = right ? std::max(320.0f, width * 0.30f) : 0;
  if (!middle) {  // the side columns share the width
    if (left && right) right_w = width - left_w - spacing;
    else left_w = right_w = width;
  }
  const float middle_w = std::max(200.0f, width - left_w - right_w - spacing * (int(left) + int(right)));
  if (left) draw_left(left_w);
  if (middle) {
    ImGui::BeginChild("middle", ImVec2(middle_w, height), false);
    draw_middle();
    ImGui::EndChild();
    ImGui::SameLine();
  }
  if (right) {
    ImGui::BeginChild("right", ImVec2(right_w, height), true);
    draw_right();
    ImGui::EndChild();
  }
  ImGui::End();
}

// Play/pause, reset and stepping at every level: in the controls, or compact
// in one row (embed mode) with where the run is.
void Playground::run_buttons(const Snapshot& s, bool compact) {
  const bool playing = s.playing || play_when_loaded_;
  if (playing) {
    if (ImGui::Button("Pause", ImVec2(70, 0))) pause();
  } else {
    ImGui::BeginDisabled(s.diverged || ((s.failed || s.loading) && !waiting_));
    if (ImGui::Button("Play", ImVec2(70, 0))) play();
    ImGui::EndDisabled();
  }
  ImGui::SameLine();
  if (ImGui::Button("Reset")) reset();
  ImGui::BeginDisabled(playing || s.busy || s.diverged || s.failed || s.loading || waiting_.has_value());
  const float button_w =
      compact ? 0 : (ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ItemSpacing.x) / 2;
  struct Level {
    const char* label;
    const char* tip;
    StepLevel level;
  };
  const Level levels[] = {{"+1 iteration", "one inference iteration of the relaxation", StepLevel::Iteration},
                          {"+1 relaxation", "the rest of the n inference iterations", StepLevel::Relaxation},
                          {"+1 update", "finish the step: gradients and one weight update", StepLevel::Update},
                          {"+1 epoch", "steps until the next pass over the training set", StepLevel::Epoch}};
  for (int i = 0; i < 4; ++i) {
    if (i % 2 || compact) ImGui::SameLine();
    const std::vector<Racer> raced = settings_.raced();
    const bool pc_only = i < 2 && std::none_of(raced.begin(), raced.end(), relaxes_racer);  // backprop has no relaxation
    ImGui::BeginDisabled(pc_only);
    if (ImGui::Button(levels[i].label, ImVec2(button_w, 0))) run_->step(levels[i].level);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
      ImGui::SetTooltip("%s", pc_only ? "backprop (Exact) has no relaxation to step through" : levels[i].tip);
  }
  ImGui::EndDisabled();
  if (compact) {
    ImGui::SameLine();
    if (waiting_ && !waiting_->error.empty()) ImGui::TextColored(ImVec4(0.8f, 0.1f, 0.1f, 1), "%s", waiting_->error.c_str());
    else if (waiting_) ImGui::Text("loading %s: %.0f %%", settings_.dataset.c_str(), 100 * waiting_->progress);
    else ImGui::Text("%s   step %ld   epoch %.2f", race_label(settings_).c_str(), s.step, s.epoch);
  }
}

void Playground::controls(const Snapshot& s, bool with_run_buttons) {
  Settings next = settings_;
  ImGui::PushItemWidth(ImGui::GetContentRegionAvail().x * 0.56f);  // room for the labels
  ImGui::TextUnformatted("pcplay: predictive coding, live");
  ImGui::Separator();

  if (with_run_buttons) run_buttons(s, false);
  if (ImGui::SliderFloat("speed", &speed_, 0, 60, speed_ == 0 ? "max" : "%.0f steps/s")) run_->set_speed(speed_);
  if (ImGui::InputInt("stop at step", &stop_at_, 100, 1000)) {
    stop_at_ = std::max(0, stop_at_);
    run_->stop_at(stop_at_);
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("pause when the run reaches this step (0: never)");

  section("Data");
  const bool named = is_named_dataset(next.dataset);  // else the user's own file
  choice("data set", next.dataset, names_of(named_datasets()));
  const bool toy = is_toy_dataset(next.dataset);
  if (toy) {
    float noise = static_cast<float>(next.noise);
    if (ImGui::SliderFloat("noise", &noise, 0, 0.5f, "%.2f")) next.noise = noise;
  }
  if (toy || !named) {
    float ratio = static_cast<float>(next.ratio);
    if (ImGui::SliderFloat("train ratio", &ratio, 0.1f, 0.9f, "%.2f")) next.ratio = ratio;
  }
  // The user's own data: a CSV file (features, then an integer label) or a folder of IDX files.
  ImGui::InputTextWithHint("##own", "your CSV file or IDX folder", data_path_, sizeof data_path_);
  ImGui::SameLine();
  if (ImGui::SmallButton("load") && data_path_[0]) next.dataset = data_path_;
  ImU64 seed = next.seed, one = 1;
  if (ImGui::InputScalar("seed", ImGuiDataType_U64, &seed, &one)) next.seed = seed;
  ImGui::SameLine();
  if (ImGui::SmallButton("new")) next.seed = settings_.seed + 1;

  section("Model");
  std::vector<std::string> models = {"default"};
  for (const std::string& m : model_preset_names()) models.push_back(m);
  if (is_dense_name(next.model) || is_residual_mlp_name(next.model)) models.push_back(next.model);
  for (const char* deep : {"mupc:64,16", "resmlp:64,16"})  // the same deep net in muPC's and the standard parameterisation
    if (next.model != deep) models.push_back(deep);
  choice("model", next.model, models);
  model_editor(s, next);
  choice("loss", next.loss, loss_kinds());

  section("Algorithm");
  ImGui::BeginDisabled(!next.compare.empty());
  choice("error type", next.err, err_types());
  ImGui::EndDisabled();
  race_controls(next);
  const std::vector<Racer> raced = next.raced();
  ImGui::BeginDisabled(std::none_of(raced.begin(), raced.end(), relaxes_racer));
  float eta = static_cast<float>(next.eta);
  if (ImGui::SliderFloat("eta", &eta, 0.01f, 1.5f, "%.3f", ImGuiSliderFlags_Logarithmic)) next.eta = eta;
  ImGui::SliderInt("n", &next.n, 1, 400, "%d", ImGuiSliderFlags_Logarithmic);
  float tol = static_cast<float>(next.tol);
  if (ImGui::SliderFloat("tol", &tol, 0.0f, 0.5f, tol > 0 ? "%.3f" : "off")) next.tol = tol;
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Stop a step's relaxation once its step is this fraction of its first (0: always n)");
  ImGui::EndDisabled();
  choice("optimizer", next.optimizer, optimizer_kinds());
  float lr = static_cast<float>(next.lr);
  if (ImGui::SliderFloat("learning rate", &lr, 1e-4f, 0.3f, "%.4f", ImGuiSliderFlags_Logarithmic)) next.lr = lr;
  ImGui::SliderInt("batch", &next.batch, 1, 512, "%d", ImGuiSliderFlags_Logarithmic);
  ImGui::Checkbox("compare with backprop", &next.compare_bp);
  if (!(next == settings_)) apply(next);
  ImGui::PopItemWidth();

  exports(s);
}

// The algorithms raced side by side, chosen in one combo (it stays open while
// ticking): a second one starts a race beside the error type, unticking down
// to one ends it.
void Playground::race_controls(Settings& next) {
  std::vector<Racer> raced = next.raced();
  std::string preview = "off";
  if (raced.size() > 1) {
    preview.clear();
    for (const Racer& r : raced) preview += (preview.empty() ? "" : ", ") + racer_name(r);
  }
  if (ImGui::BeginCombo("race", preview.c_str())) {
    ImGui::TextDisabled("up to %zu, from the same weights on the same batches", kMaxRaced);
    // A resmlp: net also races in μPC's parameterisation (its own weights, the same batches).
    for (bool mupc : {false, true}) {
      if (mupc && !races_mupc(next.model)) break;
      if (mupc) ImGui::TextDisabled("in muPC's parameterisation (%s)", racer_model(next.model, {ErrType::Exact, true}).c_str());
      for (const Named<ErrType>& o : err_types()) {
        const Racer racer{o.value, mupc};
        auto at = std::find(raced.begin(), raced.end(), racer);
        bool on = at != raced.end();
        ImGui::BeginDisabled((!on && raced.size() >= kMaxRaced) || (on && raced.size() == 1));
        if (ImGui::Selectable(racer_label(racer).c_str(), on, ImGuiSelectableFlags_DontClosePopups)) {
          if (on) raced.erase(at);
          else raced.push_back(racer);
          // One racer left: a lone run of its error type (μPC's alone is the mupc: model).
          next.compare = raced.size() > 1 || raced.front().mupc ? raced : std::vector<Racer>();
          next.err = raced.front().err;
        }
        ImGui::EndDisabled();
      }
    }
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Train several algorithms side by side");
}

// TensorFlow Playground's "+/- layers, +/- neurons" and activation, for dense
// nets: edits the model into a dense:W1,W2,...:ACT name.
void Playground::model_editor(const Snapshot& s, Settings& next) {
  std::vector<Index> widths;
  std::string act = "tanh";
  if (is_dense_name(next.model)) {
    const ModelSpec spec = dense_model(next.model, {2}, 2);
    for (size_t b = 0; b + 1 < spec.blocks.size(); ++b) {
      for (const LayerSpec& l : spec.blocks[b])
        if (l.type == "linear") widths.push_back(l.out);
      act = spec.blocks[b].back().type;
    }
  } else if (next.model == "default" && s.weight_shapes.size() > 1 && s.weights.size() == s.weight_shapes.size()) {
    for (size_t k = 0; k + 1 < s.weight_shapes.size(); ++k) widths.push_back(s.weight_shapes[k].first);
    const std::string& first = s.blocks.front();  // "linear+relu": the activation is the last layer
    const std::string last = first.substr(first.rfind('+') + 1);
    const auto& acts = dense_activations();
    if (std::find(acts.begin(), acts.end(), last) != acts.end()) act = last;
  } else if (is_residual_mlp_name(next.model)) {  // mupc:/resmlp: width, depth, activation, read from the net
    const ModelSpec spec = residual_mlp_model(next.model, {2}, 2);  // 2-D inputs: block 1 opens with its linear
    int width = static_cast<int>(spec.blocks.front().front().out);
    int depth = static_cast<int>(spec.blocks.size());
    std::string activation = spec.blocks.back().front().type;  // the last block is activation, linear(, scale)
    bool changed = ImGui::SliderInt("width", &width, 4, 512, "%d", ImGuiSliderFlags_Logarithmic);
    changed |= ImGui::SliderInt("depth", &depth, 2, 128, "%d", ImGuiSliderFlags_Logarithmic);
    changed |= choice("activation", activation, dense_activations());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("mupc: scales each block so that depth does not decay the signal");
    if (changed) next.model = residual_mlp_name(next.model.rfind("mupc:", 0) == 0, width, depth, activation);
    return;
  } else {
    return;  // convolutional presets are not edited here
  }
  bool changed = false;
  ImGui::Text("hidden layers: %zu", widths.size());
  ImGui::SameLine();
  if (ImGui::SmallButton("-##layers") && !widths.empty()) widths.pop_back(), changed = true;
  ImGui::SameLine();
  if (ImGui::SmallButton("+##layers") && widths.size() < 8) widths.push_back(widths.empty() ? 8 : widths.back()), changed = true;
  for (size_t i = 0; i < widths.size(); ++i) {
    int w = static_cast<int>(widths[i]);
    ImGui::PushID(static_cast<int>(i));
    if (ImGui::SliderInt("neurons", &w, 1, 64)) widths[i] = w, changed = true;
    ImGui::PopID();
  }
  changed |= choice("activation", act, dense_activations());
  if (changed) next.model = dense_name(widths, act);
}

// The numbers a user looks for, as a status block over the curves.
void Playground::numbers(const Snapshot& s) {
  if (waiting_) {
    if (!waiting_->error.empty()) {
      ImGui::TextColored(ImVec4(0.8f, 0.1f, 0.1f, 1), "%s", waiting_->error.c_str());
    } else {
      ImGui::Text("loading %s", settings_.dataset.c_str());
      ImGui::SameLine();
      ImGui::ProgressBar(static_cast<float>(waiting_->progress), ImVec2(200, 0));
    }
    ImGui::Separator();
    return;
  }
  // A failure the worker has not yet replaced (a reset under way) is not news.
  if (s.diverged || (s.failed && run_->settled(s))) {
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(200, 30, 30, 255));
    ImGui::TextWrapped("%s", s.status.c_str());
    ImGui::PopStyleColor();
    if (s.diverged) {
      ImGui::SameLine();
      if (ImGui::SmallButton("Reset the run")) reset();
    }
  }
  const char* state = s.loading ? "loading"  : s.diverged ? "diverged" : s.failed ? "stopped"
                      : s.playing ? "training" : s.busy   ? "working"  : "paused";
  ImGui::Text("%s   step %ld   epoch %.2f   %.1f steps/s (limit %s)   UI %.0f frames/s", state, s.step, s.epoch,
              s.steps_per_second, speed_ > 0 ? std::to_string(static_cast<int>(speed_)).c_str() : "none",
              ImGui::GetIO().Framerate);
  ImGui::Text("computing: %.0f samples/s, %.3f ms per inference iteration, %.3f ms per weight update",
              s.samples_per_second, s.ms_per_iteration, s.ms_per_update);
  // Per lane: its losses and accuracies, and the iterations its steps made lately (the stopping rule's effect).
  const std::vector<Racer> raced = s.settings.raced();
  const bool race = raced.size() > 1;
  for (size_t lane = 0; lane < history_.size() && lane < raced.size(); ++lane) {
    const std::vector<StepRecord>& h = history_[lane];
    const LaneSnapshot* ls = lane < s.lanes.size() ? &s.lanes[lane] : nullptr;
    if (race) {
      ImGui::TextColored(lane_text_color(raced[lane]), "%s", racer_label(raced[lane]).c_str());
      ImGui::SameLine();
    }
    if (ls && ls->diverged && race) {
      ImGui::TextColored(ImVec4(0.8f, 0.1f, 0.1f, 1), "stopped at step %ld: %s", ls->step, ls->status.c_str());
      continue;
    }
    if (h.empty()) {
      ImGui::TextDisabled("no step yet");
      continue;
    }
    const StepRecord& r = h.back();
    double made = 0;
    const size_t last = std::min<size_t>(h.size(), 100);
    for (size_t i = h.size() - last; i < h.size(); ++i) made += h[i].iterations;
    const std::string iterations = relaxes(raced[lane].err) ? "   iterations " + std::to_string(r.iterations) + " (" +
                                                              std::to_string(made / static_cast<double>(last)).substr(0, 4) +
                                                              " per step lately, n = " + std::to_string(s.settings.n) + ")"
                                                        : "";
    ImGui::TextWrapped("batch loss %.4f, accuracy %.3f   test loss %.4f, accuracy %.3f%s", r.train.loss,
                       r.train.accuracy, r.test.loss, r.test.accuracy, iterations.c_str());
  }
  if (draws_twin(s.settings) && !history_.empty() && !history_.front().empty()) {
    const StepRecord& r = history_.front().back();
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(twin_color(race)), "backprop twin");
    ImGui::SameLine();
    ImGui::Text("test loss %.4f, accuracy %.3f", r.bp_test.loss, r.bp_test.accuracy);
  }
  ImGui::Separator();
}

void Playground::exports(const Snapshot& s) {
  section("Export");
  auto save = [&](const char* name, const std::string& contents) {
    const std::string path = export_dir_ + "/" + name;
    try {
      write_file_atomically(path, contents);
      message_ = "wrote " + path;
    } catch (const std::exception& e) {
      message_ = e.what();
    }
  };
  const float button_w = (ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ItemSpacing.x) / 2;
  if (ImGui::Button("metrics (CSV)", ImVec2(button_w, 0))) save("pcplay-metrics.csv", export_metrics_csv());
  ImGui::SameLine();
  if (ImGui::Button("plots (SVG)", ImVec2(button_w, 0))) save("pcplay-plots.svg", export_plots_svg());
  if (ImGui::Button("weights", ImVec2(button_w, 0))) {
    run_->save_weights(export_dir_ + "/pcplay-weights.safetensors");
    message_.clear();
  }
  ImGui::SameLine();
  if (ImGui::Button("settings link", ImVec2(button_w, 0))) {
    if (share_link) share_link(to_query(settings_));
    else ImGui::SetClipboardText(to_query(settings_).c_str());
    message_ = "copied the settings link";
  }
  ImGui::InputTextWithHint("##weights", "weights to start from (.safetensors)", weights_path_, sizeof weights_path_);
  ImGui::SameLine();
  if (ImGui::SmallButton("import") && weights_path_[0]) {
    run_->load_weights(weights_path_);
    message_.clear();
  }
  if (!message_.empty()) ImGui::TextWrapped("%s", message_.c_str());
  else if (!s.notice.empty()) ImGui::TextWrapped("%s", s.notice.c_str());
}

void Playground::curves(const Snapshot& s) {
  const std::vector<Racer> raced = s.settings.raced();
  const size_t lanes = std::min(history_.size(), raced.size());
  const bool race = lanes > 1;
  const float avail = ImGui::GetContentRegionAvail().x;
  const float spacing = ImGui::GetStyle().ItemSpacing.x;
  // Each visible row of plots (loss, errors, relaxation) gets an equal share
  // of the height left after the guidance lines.
  const int rows = int(settings_.panel_visible("loss")) + int(settings_.panel_visible("errors")) +
                   int(settings_.panel_visible("relaxation"));
  // Guidance: the buttons, then the text wrapped beside them (two lines, mostly).
  const float guidance_h = settings_.panel_visible("loss") ? guidance_.size() * 2 * ImGui::GetTextLineHeightWithSpacing() : 0;
  const float h = std::max(150.0f, (ImGui::GetContentRegionAvail().y - 30 - guidance_h) / rows);
  const float half = (avail - spacing) / 2;
  const bool bp = s.settings.compare_bp;
  std::vector<std::vector<float>> steps(lanes);  // each lane's x axis, shared by its plots
  for (size_t lane = 0; lane < lanes; ++lane) steps[lane] = column(history_[lane], step_of);
  if (settings_.panel_visible("loss")) {
    std::vector<plot::Series> loss, acc;
    for (size_t lane = 0; lane < lanes; ++lane) {
      const std::vector<StepRecord>& hl = history_[lane];
      const std::vector<float>& x = steps[lane];
      const ImU32 c = race ? lane_color(raced[lane]) : plot::color(0);
      const std::string name = race ? racer_label(raced[lane]) : "train";
      loss.push_back({name, x, column(hl, train_loss), c});
      if (!race) {
        loss.push_back({"test", x, column(hl, test_loss), plot::color(0, 0.5f), true});
        acc.push_back({"train", x, column(hl, train_accuracy), c});
      }
      acc.push_back({race ? name : "test", x, column(hl, test_accuracy), race ? c : plot::color(0, 0.5f), !race});
    }
    if (bp && lanes > 0 && draws_twin(s.settings)) {  // the twin trains beside the lead on its batches
      loss.push_back({"backprop", steps[0], column(history_[0], bp_train_loss), twin_color(race)});
      acc.push_back({"backprop", steps[0], column(history_[0], bp_test_accuracy), twin_color(race)});
    }
    plot::lines("loss", {race ? "Batch loss" : "Loss: PC vs backprop", "step", "", false, true}, loss, ImVec2(half, h));
    ImGui::SameLine();
    plot::lines("accuracy", {race ? "Test accuracy" : "Accuracy", "step", "", false, false, 0, 1}, acc, ImVec2(half, h));
    guidance_lines();
  }
  if (settings_.panel_visible("errors")) {
    // Per layer, against backprop: one pair of plots, or a small pair per PC lane in a race.
    std::vector<size_t> shown;
    for (size_t lane = 0; lane < lanes; ++lane)
      if (!race || raced[lane].err != ErrType::Exact) shown.push_back(lane);  // backprop against itself says nothing
    const size_t L = s.shapes.empty() ? 0 : s.shapes.size() - 1;
    const bool small = shown.size() > 1;  // small multiples: a row of relative errors, a row of angles
    const float w = small ? (avail - spacing * (shown.size() - 1)) / shown.size() : half;
    const float ph = small ? (h - spacing) / 2 : h;
    for (int kind = 0; kind < 2; ++kind) {  // relative error, then angle
      for (size_t k = 0; k < shown.size(); ++k) {
        const size_t lane = shown[k];
        std::vector<plot::Series> series;
        for (size_t l = 0; l < L && bp; ++l)
          series.push_back({"layer " + std::to_string(l + 1), steps[lane],
                            column(history_[lane],
                                   [l, kind](const StepRecord& r) {
                                     const GradientAgreement a = agreement_at(r, l);
                                     return kind == 0 ? a.rel_error : a.angle_deg;
                                   }),
                            plot::color(static_cast<int>(l) + 2)});
        const std::string who = race ? racer_label(raced[lane]) + ": " : "";
        const std::string title = who + (kind == 0 ? "relative error of the update vs backprop's"
                                                   : "angle to backprop's update (degrees)");
        const std::string id = (kind == 0 ? "rel" : "angle") + std::to_string(lane);
        if (k > 0 || (!small && kind == 1)) ImGui::SameLine();
        plot::Options options{title, "step", "", false, kind == 0};
        options.legend = k == 0;  // the layers' colours are the same in every lane's plot
        plot::lines(id.c_str(), options, series, ImVec2(w, ph));
      }
    }
    if (!bp) ImGui::TextDisabled("Turn on \"compare with backprop\" to see these.");
  }
}

// What the run is doing wrong, in one line per struggling lane, with the changes
// that help as buttons beside it. Inline under the curves: it covers nothing.
void Playground::guidance_lines() {
  for (size_t i = 0; i < guidance_.size(); ++i) {
    const Guidance& g = guidance_[i];
    ImGui::PushID(static_cast<int>(i));
    for (size_t k = 0; k < g.remedies.size(); ++k) {
      ImGui::PushID(static_cast<int>(k));
      if (ImGui::SmallButton(g.remedies[k].label.c_str())) {
        const bool new_run = g.remedies[k].settings.needs_reset_from(settings_);
        apply(g.remedies[k].settings);
        if (new_run) play();
      }
      ImGui::SameLine();
      // The text beside the buttons, or under them where the window is narrow.
      if (k + 1 == g.remedies.size() && ImGui::GetContentRegionAvail().x < ImGui::GetFontSize() * 20) ImGui::NewLine();
      ImGui::PopID();
    }
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(180, 90, 0, 255));
    ImGui::TextWrapped("%s", g.text.c_str());
    ImGui::PopStyleColor();
    ImGui::PopID();
  }
}

void Playground::relaxation(const Snapshot& s) {
  const float avail = ImGui::GetContentRegionAvail().x;
  const float spacing = ImGui::GetStyle().ItemSpacing.x;
  const float half = (avail - spacing) / 2;
  const float h = std::max(150.0f, ImGui::GetContentRegionAvail().y - 4);
  const bool race = s.lanes.size() > 1;
  // The energy of every lane overlaid; |eps| per layer, one small plot per lane in a race.
  std::vector<plot::Series> energy;
  std::vector<std::vector<plot::Series>> norms;
  std::vector<std::string> titles;
  std::string relaxing;
  for (const LaneSnapshot& lane : s.lanes) {
    if (!relaxes(lane.racer.err)) continue;
    std::vector<float> it;
    for (const SweepStats& st : lane.sweeps) it.push_back(static_cast<float>(st.iteration));
    plot::Series e{race ? racer_label(lane.racer) : "energy", it, {}, race ? lane_color(lane.racer) : plot::color(0)};
    for (const SweepStats& st : lane.sweeps) e.y.push_back(static_cast<float>(st.energy));
    energy.push_back(e);
    std::vector<plot::Series> layers;
    const size_t count = lane.sweeps.empty() ? 0 : lane.sweeps.back().eps_norm.size();
    for (size_t l = 0; l < count; ++l) {
      plot::Series ser{"||eps_" + std::to_string(l) + "||", it, {}, plot::color(static_cast<int>(l) + 1)};
      for (const SweepStats& st : lane.sweeps) ser.y.push_back(static_cast<float>(st.eps_norm[l]));
      layers.push_back(ser);
    }
    norms.push_back(layers);
    titles.push_back(race ? racer_label(lane.racer) + ": ||eps|| per layer" : "Prediction errors per layer");
    if (lane.relaxing >= 0 && relaxing.empty())
      relaxing = " (relaxing: " + std::to_string(lane.relaxing) + "/" + std::to_string(s.settings.n) + ")";
  }
  const std::string title = relaxing.empty() ? "Energy over the last relaxation" : "Energy" + relaxing;
  plot::lines("energy", {title, "inference iteration", "", false, true}, energy, ImVec2(half, h));
  const float w = norms.empty() ? half : (avail - half - spacing * norms.size()) / norms.size();
  for (size_t k = 0; k < norms.size(); ++k) {
    ImGui::SameLine();
    plot::Options options{titles[k], "inference iteration", "", false, true};
    options.legend = k == 0;
    plot::lines(("eps" + std::to_string(k)).c_str(), options, norms[k], ImVec2(w, h));
  }
  if (norms.empty()) {
    ImGui::SameLine();
    plot::lines("eps", {"Prediction errors per layer", "inference iteration", "", false, true}, {}, ImVec2(half, h));
  }
}

void Playground::network(const Snapshot& s) {
  section("Network");
  if (s.shapes.empty()) {
    ImGui::TextDisabled("%s", s.status.c_str());
    return;
  }
  ImGui::Text("%zu PC layers, %ld parameters", s.shapes.size() - 1, s.parameters);
  const std::vector<double> err = layer_errors(s);
  double top = 0;
  for (size_t l = 1; l < err.size(); ++l)
    if (std::isfinite(err[l])) top = std::max(top, err[l]);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float w = ImGui::GetContentRegionAvail().x;

  // Small dense nets: TensorFlow Playground's nodes and weight lines (width |w|, colour its sign).
  const bool dense = !s.weights.empty() && s.weight_shapes.size() + 1 == s.shapes.size();
  int widest = 0;
  for (const auto& ws : s.weight_shapes) widest = std::max({widest, ws.first, ws.second});
  if (dense && widest <= 16) {
    const float h = 150;
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::Dummy(ImVec2(w, h));
    const size_t columns = s.weight_shapes.size() + 1;
    auto node = [&](size_t col, int i, int count) {
      return ImVec2(p0.x + 14 + (w - 28) * col / (columns - 1), p0.y + h * (i + 0.5f) / count);
    };
    float wmax = 1e-6f;
    for (const auto& m : s.weights)
      for (float v : m) wmax = std::max(wmax, std::abs(v));
    for (size_t k = 0; k < s.weight_shapes.size(); ++k) {
      const auto [out, in] = s.weight_shapes[k];
      for (int o = 0; o < out; ++o)
        for (int i = 0; i < in; ++i) {
          const float v = s.weights[k][o * in + i] / wmax;
          dl->AddLine(node(k, i, in), node(k + 1, o, out), plot::diverging(v), 0.5f + 2.5f * std::abs(v));
        }
    }
    for (size_t col = 0; col < columns; ++col) {
      const int count = col == 0 ? s.weight_shapes[0].second : s.weight_shapes[col - 1].first;
      const float e = col < err.size() && top > 0 && std::isfinite(err[col]) ? static_cast<float>(err[col] / top) : 0;
      for (int i = 0; i < count; ++i) {
        dl->AddCircleFilled(node(col, i, count), 5, plot::sequential(e));
        dl->AddCircle(node(col, i, count), 5, IM_COL32(60, 60, 60, 255));
      }
    }
  }
  // Every net: its blocks with their shapes, coloured by the size of their prediction errors.
  for (size_t l = 1; l < s.shapes.size(); ++l) {
    const float e = l < err.size() && top > 0 && std::isfinite(err[l]) ? static_cast<float>(err[l] / top) : 0;
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float row = ImGui::GetFontSize() * 1.5f;
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + row), plot::sequential(0.15f + 0.7f * e), 3);
    char text[160];
    std::snprintf(text, sizeof text, "f%zu %s -> %s  |eps| %.2g", l, s.blocks[l - 1].c_str(),
                  shape_str(s.shapes[l]).c_str(), l < err.size() ? err[l] : 0.0);
    dl->AddText(ImVec2(p.x + 6, p.y + row * 0.18f), e > 0.6f ? IM_COL32(255, 255, 255, 255) : IM_COL32(20, 20, 20, 255), text);
    ImGui::Dummy(ImVec2(w, row + 2));
  }
}

void Playground::output(const Snapshot& s) {
  section("Output");
  const float w = ImGui::GetContentRegionAvail().x;
  const bool race = s.lanes.size() > 1;
  if (s.two_d && s.grid > 0) {
    // The decision boundary of each lane (small multiples in a race), with
    // train (filled) and test (ringed) points.
    const int columns = race ? 2 : 1;
    const float spacing = ImGui::GetStyle().ItemSpacing.x;
    const int rows = (static_cast<int>(s.lanes.size()) + columns - 1) / columns;
    const float label_h = race ? ImGui::GetTextLineHeightWithSpacing() : 0;
    const float side = std::max(40.0f, std::min((w - spacing * (columns - 1)) / columns,
                                                (ImGui::GetContentRegionAvail().y - 30) / std::max(1, rows) - label_h));
    const float dot = race ? 2.0f : 3.0f;
    for (size_t k = 0; k < s.lanes.size(); ++k) {
      const LaneSnapshot& lane = s.lanes[k];
      if (k % columns) ImGui::SameLine();
      ImGui::BeginGroup();
      if (race) ImGui::TextColored(lane_text_color(lane.racer), "%s", racer_label(lane.racer).c_str());
      const ImVec2 p0 = ImGui::GetCursorScreenPos();
      if (lane.boundary && lane.boundary->size() == static_cast<size_t>(s.grid * s.grid)) {
        // A race's small plots at half the grid: a quarter of the cells to fill.
        const int step = race ? 2 : 1, g = s.grid / step;
        std::vector<float> cells(static_cast<size_t>(g * g));
        for (int y = 0; y < g; ++y)
          for (int x = 0; x < g; ++x) cells[y * g + x] = (*lane.boundary)[(y * step) * s.grid + x * step];
        plot::heatmap(("boundary" + std::to_string(k)).c_str(), cells.data(), g, g, 0, 1, ImVec2(side, side),
                      plot::diverging);
      }
      else
        ImGui::Dummy(ImVec2(side, side));
      ImDrawList* dl = ImGui::GetWindowDrawList();
      auto at = [&](float x, float y) {
        return ImVec2(p0.x + (x + s.extent) / (2 * s.extent) * side, p0.y + (s.extent - y) / (2 * s.extent) * side);
      };
      const std::vector<float> none;
      const std::vector<float>& train = s.train_points ? *s.train_points : none;
      const std::vector<float>& test = s.test_points ? *s.test_points : none;
      auto colour = [](float label) { return label > 0.5f ? IM_COL32(10, 90, 200, 255) : IM_COL32(240, 120, 10, 255); };
      if (race) {  // small multiples: a sample of the points, as squares (a circle costs a software renderer ten times more)
        for (const std::vector<float>* points : {&train, &test}) {
          const size_t stride = 3 * std::max<size_t>(1, points->size() / 3 / kRacePoints);
          for (size_t i = 0; i + 2 < points->size(); i += stride) {
            const ImVec2 p = at((*points)[i], (*points)[i + 1]);
            dl->AddRectFilled(ImVec2(p.x - dot, p.y - dot), ImVec2(p.x + dot, p.y + dot), colour((*points)[i + 2]));
          }
        }
      } else {
        for (size_t i = 0; i + 2 < train.size(); i += 3) dl->AddCircleFilled(at(train[i], train[i + 1]), dot, colour(train[i + 2]));
        for (size_t i = 0; i + 2 < test.size(); i += 3) dl->AddCircle(at(test[i], test[i + 1]), dot + 0.5f, colour(test[i + 2]), 0, 1.5f);
      }
      ImGui::EndGroup();
    }
    ImGui::TextDisabled(race ? "a sample of the training and test points" : "filled: training points; rings: test points");
    return;
  }
  if (s.lanes.empty() || !s.lanes.front().images) return;
  const ImageViews& v = *s.lanes.front().images;
  // Test images with their predictions (red when wrong); click one for its maps.
  const int per_row = 8;
  const float cell = std::max(4.0f, (w - 8) / per_row);
  for (size_t k = 0; k < v.labels.size(); ++k) {
    if (k % per_row) ImGui::SameLine(0, 1);
    ImGui::BeginGroup();
    const int clicked = plot::heatmap(("img" + std::to_string(k)).c_str(), v.images.data() + k * v.width * v.height,
                                      v.width, v.height, 0, 1, ImVec2(cell - 2, cell - 2));
    if (clicked >= 0 && ImGui::IsMouseClicked(0)) run_->choose_image(static_cast<int>(k));
    const bool right = v.predictions[k] == v.labels[k];
    ImGui::TextColored(right ? ImVec4(0.1f, 0.5f, 0.1f, 1) : ImVec4(0.8f, 0.1f, 0.1f, 1), "%s%d",
                       static_cast<int>(k) == v.chosen ? ">" : "", v.predictions[k]);
    ImGui::EndGroup();
  }
  // Confusion matrices over the first test images, one per lane.
  ImGui::TextUnformatted("Confusion (rows: true class)");
  const float spacing = ImGui::GetStyle().ItemSpacing.x;
  const float side = std::max(10.0f, std::min(race ? (w - spacing * (s.lanes.size() - 1)) / s.lanes.size() : w * 0.5f, 150.0f));
  for (size_t k = 0; k < s.lanes.size(); ++k) {
    if (!s.lanes[k].images) continue;
    const ImageViews& lv = *s.lanes[k].images;
    if (lv.classes <= 0 || lv.confusion.empty()) continue;
    if (k) ImGui::SameLine();
    ImGui::BeginGroup();
    if (race) ImGui::TextColored(lane_text_color(s.lanes[k].racer), "%s", racer_label(s.lanes[k].racer).c_str());
    std::vector<float> share(lv.confusion.size());
    for (int i = 0; i < lv.classes; ++i) {
      int total = 0;
      for (int j = 0; j < lv.classes; ++j) total += lv.confusion[i * lv.classes + j];
      for (int j = 0; j < lv.classes; ++j)
        share[i * lv.classes + j] = total ? static_cast<float>(lv.confusion[i * lv.classes + j]) / total : 0.0f;
    }
    const int hovered = plot::heatmap(("confusion" + std::to_string(k)).c_str(), share.data(), lv.classes, lv.classes, 0,
                                      1, ImVec2(side, side));
    if (hovered >= 0)
      ImGui::SetTooltip("true %d, predicted %d: %d images", hovered / lv.classes, hovered % lv.classes,
                        lv.confusion[hovered]);
    ImGui::EndGroup();
  }
  // For the chosen image: |eps| of this error type and backprop's gradient, per layer.
  ImGui::Text("Image %d: |eps| (left) and |dLoss/dv| (right) per layer", v.chosen);
  const float map_w = std::max(8.0f, (w - 12) / 2);
  for (size_t l = 0; l < v.grad_maps.size(); ++l) {
    const LayerMap& e = v.eps_maps[l];
    const LayerMap& g = v.grad_maps[l];
    const float gh = std::max(4.0f, std::min(60.0f, map_w * g.height / std::max(1, g.width)));
    auto draw = [&](const LayerMap& m, const char* id) {
      float hi = 0;
      for (float x : m.values) hi = std::max(hi, x);
      const float mw = std::max(1.0f, gh * m.width / std::max(1, m.height));
      plot::heatmap(id, m.values.data(), m.width, m.height, 0, hi > 0 ? hi : 1, ImVec2(mw, gh));
    };
    if (!e.values.empty()) draw(e, ("e" + std::to_string(l)).c_str());
    else ImGui::Dummy(ImVec2(map_w, gh));
    ImGui::SameLine(map_w + 12);
    draw(g, ("g" + std::to_string(l)).c_str());
  }
}

// The metrics' CSV; a race's adds a first column naming each row's algorithm.
std::string Playground::export_metrics_csv() const {
  const Index depth = snapshot_->shapes.empty() ? 0 : static_cast<Index>(snapshot_->shapes.size()) - 1;
  const std::vector<Racer> raced = snapshot_->settings.raced();
  const bool race = raced.size() > 1;
  std::string csv = (race ? "algorithm," : "") + metrics_csv_header(depth, snapshot_->settings.compare_bp);
  for (size_t lane = 0; lane < history_.size() && lane < raced.size(); ++lane)
    for (const StepRecord& r : history_[lane])
      csv += (race ? racer_name(raced[lane]) + "," : "") + metrics_csv_row(r, depth, snapshot_->settings.compare_bp);
  return csv;
}

std::string Playground::export_plots_svg() const {
  const std::vector<Racer> raced = snapshot_->settings.raced();
  const size_t lanes = std::min(history_.size(), raced.size());
  PlotPanel loss{"Loss", "step", "loss", false, true, 0, 0, {}};
  PlotPanel acc{"Accuracy", "step", "accuracy", false, false, 0, 1, {}};
  PlotPanel rel{"Relative error of layer 1 vs backprop", "step", "relative error", false, true, 0, 0, {}};
  for (size_t lane = 0; lane < lanes; ++lane) {
    const std::vector<StepRecord>& h = history_[lane];
    const std::vector<double> x = column<double>(h, step_of);
    const std::string name = lanes > 1 ? racer_label(raced[lane]) : "PC";
    const int colour = lanes > 1 ? palette_index(raced[lane]) : 0;
    loss.series.push_back({name + " train", x, column<double>(h, train_loss), false, colour});
    if (lanes == 1) loss.series.push_back({name + " test", x, column<double>(h, test_loss), true, colour});
    acc.series.push_back({name + " test", x, column<double>(h, test_accuracy), false, colour});
    if (lanes == 1) {  // every layer of the one run
      const size_t L = h.empty() ? 0 : h.back().agreement.size();
      rel.title = "Relative error vs backprop";
      for (size_t l = 0; l < L; ++l)
        rel.series.push_back({"layer " + std::to_string(l + 1), x,
                              column<double>(h, [l](const StepRecord& r) { return agreement_at(r, l).rel_error; }),
                              false, static_cast<int>(l) + 2});
    } else if (raced[lane].err != ErrType::Exact) {
      rel.series.push_back({name, x, column<double>(h, [](const StepRecord& r) { return agreement_at(r, 0).rel_error; }),
                            false, colour});
    }
  }
  if (lanes > 0 && draws_twin(snapshot_->settings)) {
    const std::vector<double> x = column<double>(history_[0], step_of);
    const int colour = lanes > 1 ? palette_index(kBackprop) : 1;
    loss.series.push_back({"backprop train", x, column<double>(history_[0], bp_train_loss), false, colour});
    acc.series.push_back({"backprop test", x, column<double>(history_[0], bp_test_accuracy), false, colour});
  }
  return svg_figure("pcplay: " + to_query(settings_), {loss, acc, rel}, 3);
}

}  // namespace pcplay::ui
