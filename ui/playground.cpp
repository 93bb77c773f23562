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

// |eps| per layer from the last inference iteration: the colour of each block.
std::vector<double> layer_errors(const Snapshot& s) {
  if (s.sweeps.empty()) return {};
  return s.sweeps.back().eps_norm;
}

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
  // A narrow window (a phone, a tutorial's column): the controls, and the rest
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
    const bool pc_only = i < 2 && !relaxes(settings_.err);  // backprop has no relaxation
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
    else ImGui::Text("%s   step %ld   epoch %.2f", err_type_label(settings_.err).c_str(), s.step, s.epoch);
  }
}

void Playground::controls(const Snapshot& s) {
  Settings next = settings_;
  ImGui::PushItemWidth(ImGui::GetContentRegionAvail().x * 0.56f);  // room for the labels
  ImGui::TextUnformatted("pcplay: predictive coding, live");
  ImGui::Separator();

  run_buttons(s, false);
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
  choice("model", next.model, models);
  model_editor(s, next);
  choice("loss", next.loss, loss_kinds());

  section("Algorithm");
  choice("error type", next.err, err_types());
  ImGui::BeginDisabled(!relaxes(next.err));
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
  if (!history_.empty()) {
    const StepRecord& r = history_.back();
    if (s.settings.compare_bp)
      ImGui::TextWrapped("batch loss %.4f, accuracy %.3f   test loss %.4f, accuracy %.3f   backprop: test loss %.4f, accuracy %.3f",
                  r.train.loss, r.train.accuracy, r.test.loss, r.test.accuracy, r.bp_test.loss, r.bp_test.accuracy);
    else
      ImGui::Text("batch loss %.4f, accuracy %.3f   test loss %.4f, accuracy %.3f", r.train.loss, r.train.accuracy,
                  r.test.loss, r.test.accuracy);
    if (relaxes(s.settings.err)) {  // the stopping rule's effect: iterations per step, lately
      double made = 0;
      const size_t last = std::min<size_t>(history_.size(), 100);
      for (size_t i = history_.size() - last; i < history_.size(); ++i) made += history_[i].iterations;
      ImGui::Text("inference iterations: %d in the last step, %.1f per step over the last %zu (n = %d)", r.iterations,
                  made / static_cast<double>(last), last, s.settings.n);
    }
  }
  // The energy should fall during each relaxation (Strict, ePC); when it rises, say so.
  long rose = 0;
  const size_t recent = std::min<size_t>(history_.size(), 100);
  for (size_t i = history_.size() - recent; i < history_.size(); ++i) rose += history_[i].energy_rose;
  if (rose > 0) {
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(170, 90, 0, 255));
    ImGui::TextWrapped("The energy rose during %ld of the last %zu relaxations: eta is too large for these "
                       "weights, and PC's updates there are far from backprop's. Try a smaller eta, or the MSE loss.",
                       rose, recent);
    ImGui::PopStyleColor();
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
  const std::vector<float> x = column(history_, step_of);
  const float avail = ImGui::GetContentRegionAvail().x;
  // Each visible row of plots (loss, errors, relaxation) gets an equal share of the height.
  const int rows = int(settings_.panel_visible("loss")) + int(settings_.panel_visible("errors")) +
                   int(settings_.panel_visible("relaxation"));
  const float h = std::max(150.0f, (ImGui::GetContentRegionAvail().y - 30) / rows);
  const float half = (avail - ImGui::GetStyle().ItemSpacing.x) / 2;
  const bool bp = s.settings.compare_bp;
  if (settings_.panel_visible("loss")) {
    std::vector<plot::Series> loss = {{"train", x, column(history_, train_loss), plot::color(0)},
                                      {"test", x, column(history_, test_loss), plot::color(0, 0.5f), true}};
    std::vector<plot::Series> acc = {{"train", x, column(history_, train_accuracy), plot::color(0)},
                                     {"test", x, column(history_, test_accuracy), plot::color(0, 0.5f), true}};
    if (bp) {
      loss.push_back({"backprop", x, column(history_, bp_train_loss), plot::color(1)});
      acc.push_back({"backprop", x, column(history_, bp_test_accuracy), plot::color(1)});
    }
    plot::lines("loss", {"Loss: PC vs backprop", "step", "", false, true}, loss, ImVec2(half, h));
    ImGui::SameLine();
    plot::lines("accuracy", {"Accuracy", "step", "", false, false, 0, 1}, acc, ImVec2(half, h));
  }
  if (settings_.panel_visible("errors")) {
    std::vector<plot::Series> rel, angle;
    const size_t L = s.shapes.empty() ? 0 : s.shapes.size() - 1;
    for (size_t l = 0; l < L && bp; ++l) {
      const std::string name = "layer " + std::to_string(l + 1);
      const ImU32 colour = plot::color(static_cast<int>(l) + 2);
      rel.push_back({name, x, column(history_, [l](const StepRecord& r) { return agreement_at(r, l).rel_error; }), colour});
      angle.push_back({name, x, column(history_, [l](const StepRecord& r) { return agreement_at(r, l).angle_deg; }), colour});
    }
    plot::lines("rel", {"Relative error of PC's update vs backprop's", "step", "", false, true}, rel, ImVec2(half, h));
    ImGui::SameLine();
    plot::lines("angle", {"Angle to backprop's update (degrees)", "step", "", false, false}, angle, ImVec2(half, h));
    if (!bp) ImGui::TextDisabled("Turn on \"compare with backprop\" to see these.");
  }
}

void Playground::relaxation(const Snapshot& s) {
  const float avail = ImGui::GetContentRegionAvail().x;
  const float half = (avail - ImGui::GetStyle().ItemSpacing.x) / 2;
  const float h = std::max(150.0f, ImGui::GetContentRegionAvail().y - 4);
  std::vector<float> it;
  for (const SweepStats& st : s.sweeps) it.push_back(static_cast<float>(st.iteration));
  std::vector<plot::Series> energy = {{"energy", it, {}, plot::color(0)}};
  for (const SweepStats& st : s.sweeps) energy[0].y.push_back(static_cast<float>(st.energy));
  std::vector<plot::Series> norms;
  const size_t layers = s.sweeps.empty() ? 0 : s.sweeps.back().eps_norm.size();
  for (size_t l = 0; l < layers; ++l) {
    plot::Series ser{"||eps_" + std::to_string(l) + "||", it, {}, plot::color(static_cast<int>(l) + 1)};
    for (const SweepStats& st : s.sweeps) ser.y.push_back(static_cast<float>(st.eps_norm[l]));
    norms.push_back(ser);
  }
  const std::string title = s.relaxing >= 0 ? "Energy (relaxing: " + std::to_string(s.relaxing) + "/" + std::to_string(s.n) + ")"
                                            : "Energy over the last relaxation";
  plot::lines("energy", {title, "inference iteration", "", false, true}, energy, ImVec2(half, h));
  ImGui::SameLine();
  plot::lines("eps", {"Prediction errors per layer", "inference iteration", "", false, true}, norms, ImVec2(half, h));
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
  if (s.two_d && s.grid > 0) {
    // The decision boundary, with train (filled) and test (ringed) points.
    const float side = std::min(w, ImGui::GetContentRegionAvail().y - 30);
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    plot::heatmap("boundary", s.boundary.data(), s.grid, s.grid, 0, 1, ImVec2(side, side), plot::diverging);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    auto at = [&](float x, float y) {
      return ImVec2(p0.x + (x + s.extent) / (2 * s.extent) * side, p0.y + (s.extent - y) / (2 * s.extent) * side);
    };
    const std::vector<float> none;
    const std::vector<float>& train = s.train_points ? *s.train_points : none;
    const std::vector<float>& test = s.test_points ? *s.test_points : none;
    for (size_t i = 0; i + 2 < train.size(); i += 3)
      dl->AddCircleFilled(at(train[i], train[i + 1]), 3,
                          train[i + 2] > 0.5f ? IM_COL32(10, 90, 200, 255) : IM_COL32(240, 120, 10, 255));
    for (size_t i = 0; i + 2 < test.size(); i += 3)
      dl->AddCircle(at(test[i], test[i + 1]), 3.5f,
                    test[i + 2] > 0.5f ? IM_COL32(10, 90, 200, 255) : IM_COL32(240, 120, 10, 255), 0, 1.5f);
    ImGui::TextDisabled("filled: training points; rings: test points");
    return;
  }
  if (!s.images) return;
  const ImageViews& v = *s.images;
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
  // Confusion matrix over the first test images.
  if (v.classes > 0 && !v.confusion.empty()) {
    ImGui::TextUnformatted("Confusion (rows: true class)");
    std::vector<float> share(v.confusion.size());
    for (int i = 0; i < v.classes; ++i) {
      int total = 0;
      for (int j = 0; j < v.classes; ++j) total += v.confusion[i * v.classes + j];
      for (int j = 0; j < v.classes; ++j)
        share[i * v.classes + j] = total ? static_cast<float>(v.confusion[i * v.classes + j]) / total : 0.0f;
    }
    const float side = std::max(10.0f, std::min(w * 0.5f, 150.0f));
    const int hovered = plot::heatmap("confusion", share.data(), v.classes, v.classes, 0, 1, ImVec2(side, side));
    if (hovered >= 0)
      ImGui::SetTooltip("true %d, predicted %d: %d images", hovered / v.classes, hovered % v.classes, v.confusion[hovered]);
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

std::string Playground::export_metrics_csv() const {
  const Index depth = snapshot_->shapes.empty() ? 0 : static_cast<Index>(snapshot_->shapes.size()) - 1;
  std::string csv = metrics_csv_header(depth, settings_.compare_bp);
  for (const StepRecord& r : history_) csv += metrics_csv_row(r, depth, settings_.compare_bp);
  return csv;
}

std::string Playground::export_plots_svg() const {
  const std::vector<double> x = column<double>(history_, step_of);
  PlotPanel loss{"Loss", "step", "loss", false, true, 0, 0, {}};
  loss.series = {{"PC train", x, column<double>(history_, train_loss), false, 0},
                 {"PC test", x, column<double>(history_, test_loss), true, 0}};
  PlotPanel acc{"Accuracy", "step", "accuracy", false, false, 0, 1, {}};
  acc.series = {{"PC test", x, column<double>(history_, test_accuracy), false, 0}};
  if (settings_.compare_bp) {
    loss.series.push_back({"backprop train", x, column<double>(history_, bp_train_loss), false, 1});
    acc.series.push_back({"backprop test", x, column<double>(history_, bp_test_accuracy), false, 1});
  }
  PlotPanel rel{"Relative error vs backprop", "step", "relative error", false, true, 0, 0, {}};
  const size_t L = history_.empty() ? 0 : history_.back().agreement.size();
  for (size_t l = 0; l < L; ++l)
    rel.series.push_back({"layer " + std::to_string(l + 1), x,
                          column<double>(history_, [l](const StepRecord& r) { return agreement_at(r, l).rel_error; }),
                          false, static_cast<int>(l) + 2});
  return svg_figure("pcplay: " + to_query(settings_), {loss, acc, rel}, 3);
}

}  // namespace pcplay::ui
