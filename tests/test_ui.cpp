// The playground's state (settings and their query string) and its run
// thread (pause, stepping at every level, reset, divergence).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <thread>

#include <imgui.h>
#include <unistd.h>

#include "guidance.h"
#include "plot.h"
#include "playground.h"
#include "run.h"
#include "settings.h"

using namespace pcplay;
using namespace pcplay::ui;

namespace {

// Waits up to `seconds` for `done`, polling the run's snapshot. A ceiling
// for a hang, not a speed test: the race that diverges takes 0.1 s in the
// native build and 14 s under ThreadSanitizer alone, more beside other tests.
template <typename Pred>
bool wait_for(const Run& run, Pred done, double seconds = 120) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done(*run.snapshot())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

Settings toy(const std::string& query = "") {
  return from_query("dataset=xor&batch=16&n=5&" + query, Settings(), nullptr);
}

// A run's whole history, one per lane.
std::vector<std::vector<StepRecord>> history_of(const Run& run) {
  std::vector<std::vector<StepRecord>> h;
  uint64_t generation = ~uint64_t(0);
  run.update_history(h, generation);
  return h;
}

// The history of a run of `s` after `steps` weight updates.
std::vector<std::vector<StepRecord>> trained(const Settings& s, int steps) {
  Run run(s, "/nonexistent");
  run.step(StepLevel::Update, steps);
  run.wait_idle();
  return history_of(run);
}

}  // namespace

TEST_CASE("the settings round trip through their query string") {
  Settings s;
  s.dataset = "circle";
  s.noise = 0.25;
  s.ratio = 0.7;
  s.seed = 42;
  s.model = "mlp-2d-deep";
  s.err = ErrType::Strict;
  s.eta = 0.05;
  s.n = 120;
  s.loss = LossKind::MSE;
  s.optimizer = OptimizerKind::SGD;
  s.lr = 0.0125;
  s.batch = 64;
  s.compare_bp = false;
  s.panels = {"run", "loss", "errors"};
  s.embed = true;
  std::vector<std::string> problems;
  const Settings back = from_query(to_query(s), Settings(), &problems);
  CHECK(problems.empty());
  CHECK(back == s);
  CHECK(to_query(back) == to_query(s));
  CHECK(from_query("?" + to_query(s), Settings(), nullptr) == s);  // a leading ? or # is fine
  CHECK(from_query("#" + to_query(s), Settings(), nullptr) == s);
}

TEST_CASE("unknown keys and bad values are reported and ignored, never fatal") {
  std::vector<std::string> problems;
  const Settings s = from_query("dataset=moons&eta=-1&n=abc&foo=1&lr=0.01&batch=0&panels=loss,nope&seed=1.5",
                                Settings(), &problems);
  CHECK(problems.size() == 7);
  CHECK(s.lr == 0.01);  // the good value is taken
  CHECK(s.dataset == Settings().dataset);
  CHECK(s.eta == Settings().eta);
  CHECK(s.n == Settings().n);
  CHECK(s.batch == Settings().batch);
  CHECK(s.panels.empty());
  CHECK(problems[3].find("unknown key \"foo\"") != std::string::npos);
}

TEST_CASE("the model may be a dense net by name, and the data the user's own file") {
  std::vector<std::string> problems;
  const Settings s = from_query("model=dense:8,4:relu&dataset=/data/mine.csv", Settings(), &problems);
  CHECK(problems.empty());
  CHECK(s.model == "dense:8,4:relu");
  CHECK(s.dataset == "/data/mine.csv");
  from_query("model=dense:0:relu&dataset=moons", Settings(), &problems);
  CHECK(problems.size() == 2);
}

TEST_CASE("hostile values stay inert: decoded, refused, and cut short in messages") {
  std::vector<std::string> problems;
  const std::string attack = "%3Cscript%3Ealert(1)%3C%2Fscript%3E" + std::string(500, 'x');
  const Settings s = from_query("dataset=" + attack + "&model=" + attack + "&" + attack + "=1", Settings(), &problems);
  CHECK(s.dataset == Settings().dataset);
  CHECK(s.model == Settings().model);
  REQUIRE(problems.size() == 3);
  for (const std::string& p : problems) CHECK(p.size() < 250);  // the attack is 540 characters
  for (const char* climbing : {"../x.csv", "data/../../etc/passwd.csv", "..", "a/.."}) {
    CAPTURE(climbing);
    CHECK(from_query(std::string("dataset=") + climbing, Settings(), nullptr).dataset == Settings().dataset);
  }
  CHECK(from_query("dataset=user/drop-1/..my.csv", Settings(), nullptr).dataset == "user/drop-1/..my.csv");
  CHECK(url_decode("a%20b+c%2") == "a b c%2");
  CHECK(url_decode(url_encode("x=1&y=<2>")) == "x=1&y=<2>");
}

TEST_CASE("a flood of bad keys gives at most ten problems and a count, oversized dense nets are refused") {
  std::string q;
  for (int i = 0; i < 50; ++i) q += "junk" + std::to_string(i) + "=1&";
  std::vector<std::string> problems;
  from_query(q + "model=dense:4096,4096,4096:relu&eta=0.123456789", Settings(), &problems);
  REQUIRE(problems.size() == 11);
  CHECK(problems.back().find("41 more") != std::string::npos);
  // Numbers round-trip exactly, so a link reproduces the run.
  Settings s;
  s.eta = 0.123456789;
  s.lr = 1.0 / 3.0;
  const Settings back = from_query(to_query(s), Settings(), nullptr);
  CHECK(back.eta == s.eta);
  CHECK(back.lr == s.lr);
}

TEST_CASE("changing the learning rate or the algorithm continues a run, changing the data or model resets it") {
  const Settings a;
  Settings b = a;
  b.lr = 0.1;
  b.err = ErrType::Strict;
  b.eta = 0.3;
  b.n = 50;
  CHECK_FALSE(b.needs_reset_from(a));
  for (auto change : {+[](Settings& s) { s.dataset = "circle"; }, +[](Settings& s) { s.model = "mlp-2d-deep"; },
                      +[](Settings& s) { s.seed = 9; }, +[](Settings& s) { s.batch = 7; },
                      +[](Settings& s) { s.loss = LossKind::MSE; }}) {
    Settings c = a;
    change(c);
    CHECK(c.needs_reset_from(a));
  }
}

TEST_CASE("the run thread steps one inference iteration, one relaxation, one update, one epoch") {
  Run run(toy(), "/nonexistent");
  run.wait_idle();
  CHECK_FALSE(run.snapshot()->failed);
  run.step(StepLevel::Iteration);
  run.wait_idle();
  CHECK(run.snapshot()->lanes.at(0).relaxing == 1);
  CHECK(run.snapshot()->lanes.at(0).sweeps.size() == 1);
  run.step(StepLevel::Iteration, 2);
  run.wait_idle();
  CHECK(run.snapshot()->lanes.at(0).relaxing == 3);
  run.step(StepLevel::Relaxation);
  run.wait_idle();
  CHECK(run.snapshot()->lanes.at(0).relaxing == 5);  // n = 5
  CHECK(run.history_size() == 0);        // no update yet
  run.step(StepLevel::Update);
  run.wait_idle();
  CHECK(run.snapshot()->lanes.at(0).relaxing == -1);
  CHECK(run.history_size() == 1);
  CHECK(run.snapshot()->step == 1);
  run.step(StepLevel::Epoch);
  run.wait_idle();
  const auto s = run.snapshot();
  CHECK(s->epoch >= 1.0);
  CHECK(run.history_size() == static_cast<size_t>(s->step));
  std::vector<std::vector<StepRecord>> h;
  uint64_t generation = ~uint64_t(0);
  run.update_history(h, generation);
  REQUIRE(h.size() == 1);  // one lane
  CHECK(h[0].back().step == s->step);
  run.reset();
  run.wait_idle();
  run.update_history(h, generation);  // a reset starts the copy over
  REQUIRE(h.size() == 1);
  CHECK(h[0].empty());
}

TEST_CASE("play runs beside the caller, pause stops it, reset starts afresh") {
  Run run(toy(), "/nonexistent");
  run.play();
  REQUIRE(wait_for(run, [](const Snapshot& s) { return s.step >= 20; }));
  run.pause();
  run.wait_idle();
  const size_t paused_at = run.history_size();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(run.history_size() == paused_at);
  CHECK_FALSE(run.snapshot()->playing);
  run.reset();
  run.wait_idle();
  CHECK(run.history_size() == 0);
  CHECK(run.snapshot()->step == 0);
}

TEST_CASE("a new learning rate continues the run, a new data set resets it") {
  Run run(toy(), "/nonexistent");
  run.step(StepLevel::Update, 3);
  run.wait_idle();
  run.apply(toy("lr=0.05&err=strict"));
  run.step(StepLevel::Update);
  run.wait_idle();
  CHECK(run.history_size() == 4);
  CHECK(run.snapshot()->settings.err == ErrType::Strict);
  run.apply(toy("dataset=circle"));
  run.wait_idle();
  CHECK(run.history_size() == 0);
  CHECK(run.snapshot()->settings.dataset == "circle");
}

TEST_CASE("a run stops at the chosen step, and restarts from imported weights") {
  Run run(toy(), "/nonexistent");
  run.stop_at(15);
  run.play();
  REQUIRE(wait_for(run, [](const Snapshot& s) { return !s.playing && s.step >= 15; }));
  CHECK(run.snapshot()->step == 15);
  run.save_weights("ui_test_weights.safetensors");
  run.step(StepLevel::Update, 5);
  run.load_weights("ui_test_weights.safetensors");
  run.wait_idle();
  CHECK(run.snapshot()->step == 0);
  CHECK(run.history_size() == 0);
  CHECK(run.snapshot()->notice.find("started from") == 0);
  run.load_weights("no-such.safetensors");
  run.wait_idle();
  CHECK(run.snapshot()->notice.find("cannot open") != std::string::npos);
  std::remove("ui_test_weights.safetensors");
}

TEST_CASE("a diverging run stops and says so, and can be reset") {
  Run run(toy("eta=3&n=500"), "/nonexistent");  // FixedPred's errors grow like 2^n
  run.play();
  REQUIRE(wait_for(run, [](const Snapshot& s) { return s.diverged; }));
  const auto s = run.snapshot();
  CHECK_FALSE(s->playing);
  CHECK(s->status.find("diverged at step 1") == 0);
  run.apply(toy("eta=0.1&n=5"));
  run.reset();
  run.wait_idle();
  CHECK_FALSE(run.snapshot()->diverged);
}

TEST_CASE("stepping one iteration at a time into a divergence finishes the step and says so") {
  Run run(toy("eta=3&n=500"), "/nonexistent");
  run.wait_idle();
  for (int i = 0; i < 600 && !run.snapshot()->diverged; ++i) {
    run.step(StepLevel::Iteration);
    run.wait_idle();
  }
  const auto s = run.snapshot();
  REQUIRE(s->diverged);
  CHECK(s->status.find("diverged at step 1") == 0);
  CHECK(s->lanes.at(0).relaxing == -1);
  CHECK(s->lanes.at(0).sweeps.size() < 500);  // it stopped where the values became non-finite
}

TEST_CASE("play with nothing to play stops by itself") {
  Run run(toy(), "/nonexistent");
  run.play();
  REQUIRE(wait_for(run, [](const Snapshot& s) { return s.step >= 1; }));
  run.apply(toy("eta=3&n=500"));  // live: the run goes on and then diverges
  REQUIRE(wait_for(run, [](const Snapshot& s) { return s.diverged; }));
  run.play();    // a diverged run: nothing to play
  run.wait_idle();  // returns: play was turned off
  CHECK_FALSE(run.snapshot()->playing);
}

TEST_CASE("an epoch is a target the run keeps pursuing, pause gives it up") {
  Run run(toy(), "/nonexistent");
  run.step(StepLevel::Epoch, 2);
  run.wait_idle();
  CHECK(run.snapshot()->epoch >= 2.0);
  CHECK(run.snapshot()->epoch < 2.5);
  run.step(StepLevel::Epoch, 1000);
  run.pause();
  run.wait_idle();  // returns: the target was given up
  CHECK(run.snapshot()->epoch < 1000);
  CHECK_FALSE(run.snapshot()->busy);
}

// Without threads (a single-threaded browser build) the same run works in
// slices of the caller's time.
TEST_CASE("in sliced mode the run does its work in the slices that tick() hands it") {
  Run run(toy(), "/nonexistent", Run::Mode::Sliced);
  CHECK(run.snapshot()->loading);
  run.tick(0.001);  // the build
  CHECK_FALSE(run.snapshot()->loading);
  run.step(StepLevel::Iteration);
  run.tick(0.001);
  CHECK(run.snapshot()->lanes.at(0).relaxing == 1);
  run.step(StepLevel::Update, 3);
  run.wait_idle();
  CHECK(run.snapshot()->step == 3);
  run.play();  // every tick does at least one inference iteration, however slow the machine
  for (int i = 0; i < 5000 && run.snapshot()->step < 20; ++i) run.tick(0.002);
  CHECK(run.snapshot()->step >= 20);
  run.pause();
  run.wait_idle();
  const long paused_at = run.snapshot()->step;
  run.tick(0.01);
  CHECK(run.snapshot()->step == paused_at);
  const double epoch_before = run.snapshot()->epoch;
  run.step(StepLevel::Epoch);  // pursued across many small slices
  for (int i = 0; i < 20000 && run.snapshot()->epoch < std::floor(epoch_before) + 1; ++i) run.tick(0.0005);
  run.wait_idle();
  CHECK(run.snapshot()->epoch >= std::floor(epoch_before) + 1);
  CHECK(run.snapshot()->epoch < std::floor(epoch_before) + 1.5);
}

TEST_CASE("a data set that cannot be loaded is reported in the snapshot, not thrown") {
  Run run(from_query("dataset=mnist", Settings(), nullptr), "/nonexistent");
  run.wait_idle();
  CHECK(run.snapshot()->failed);
  CHECK(run.snapshot()->status.find("scripts/setup.sh") != std::string::npos);
  run.play();  // nothing to play: must not hang or crash
  run.step(StepLevel::Update);
  run.wait_idle();
}

// Headless frames of the whole playground: an ImGui context with a built font
// atlas, no renderer.
struct Frames {
  Frames() {
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(1280, 800);
    // As the renderers do (OpenGL 3's sets it; the browser's draws with 32-bit
    // indices): a busy frame's window may pass 65,536 vertices.
    io.BackendFlags |= ImGuiBackendFlags_RendererHasVtxOffset;
    unsigned char* pixels;
    int w, h;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
  }
  ~Frames() { ImGui::DestroyContext(); }
  void draw(Playground& playground, int count) {
    for (int i = 0; i < count; ++i) {
      ImGui::GetIO().DeltaTime = 1.0f / 60;
      ImGui::NewFrame();
      playground.frame();
      ImGui::Render();
    }
  }
};

namespace {

// Textures in memory: what a renderer would be asked to make, upload and free.
struct CountedTextures final : plot::HeatTextures {
  int made = 0, uploads = 0, freed = 0;
  std::vector<ImU32> last;
  CountedTextures() { plot::use_heat_textures(this); }
  ~CountedTextures() override {
    plot::use_heat_textures(nullptr);
    destroy_all();
  }
  ImTextureID create(int, int) override { return reinterpret_cast<ImTextureID>(static_cast<intptr_t>(++made)); }
  void upload(ImTextureID, int w, int h, const ImU32* pixels) override {
    ++uploads;
    last.assign(pixels, pixels + w * h);
  }
  void destroy(ImTextureID) override { ++freed; }
};

}  // namespace

TEST_CASE("heat maps become textures, uploaded when they change and freed when no longer drawn") {
  Frames frames;
  CountedTextures textures;
  std::vector<float> cells = {0, 0.5f, 1, 0.25f, 0.75f, 1};  // 3 × 2
  auto frame = [&](bool shown) {
    ImGui::GetIO().DeltaTime = 1.0f / 60;
    ImGui::NewFrame();
    ImGui::Begin("heat");
    if (shown) plot::heatmap("map", cells.data(), 3, 2, 0, 1, ImVec2(30, 20));
    const size_t vertices = ImGui::GetWindowDrawList()->VtxBuffer.Size;
    ImGui::End();
    ImGui::Render();
    textures.end_frame();
    return vertices;
  };
  const size_t quad = frame(true);
  CHECK(textures.made == 1);
  CHECK(textures.uploads == 1);
  REQUIRE(textures.last.size() == 6);
  CHECK(textures.last[0] == plot::sequential(0));
  CHECK(textures.last[5] == plot::sequential(1));
  frame(true);
  CHECK(textures.uploads == 1);  // the same pixels: nothing to send
  cells[2] = 0;
  frame(true);
  CHECK(textures.uploads == 2);
  CHECK(textures.last[2] == plot::sequential(0));
  CHECK(textures.made == 1);
  frame(false);
  CHECK(textures.freed == 1);  // gone with its view
  CHECK(textures.size() == 0);

  plot::use_heat_textures(nullptr);  // no renderer: a rectangle per cell
  const size_t cells_drawn = frame(true);
  CHECK(cells_drawn >= quad + 5 * 4);
  plot::use_heat_textures(&textures);
}

// In a browser the big data sets arrive after the page starts.
TEST_CASE("a data set still downloading holds the run, which starts (and plays) once it has arrived") {
  Frames frames;
  const std::string csv = "/tmp/pcplay-test-download-" + std::to_string(getpid()) + ".csv";
  std::remove(csv.c_str());
  bool arrived = false;
  Playground playground(toy("dataset=" + url_encode(csv)), "/nonexistent", "/tmp", Run::Mode::Sliced);
  playground.data_availability = [&](const std::string& dataset, bool) {
    return dataset == csv && !arrived ? DataAvailability{false, 0.5, ""} : DataAvailability{};
  };
  frames.draw(playground, 3);
  CHECK(playground.settling());
  playground.play();  // remembered until the data is there
  frames.draw(playground, 3);
  CHECK(playground.snapshot().step == 0);
  CHECK_FALSE(playground.snapshot().playing);

  FILE* f = std::fopen(csv.c_str(), "w");
  REQUIRE(f);
  for (int i = 0; i < 80; ++i) std::fprintf(f, "%d,%d,%d\n", i % 2 ? 1 : -1, i % 4 < 2 ? 1 : -1, (i % 2) ^ (i % 4 < 2));
  std::fclose(f);
  arrived = true;
  for (int i = 0; i < 2000 && playground.snapshot().step < 5; ++i) frames.draw(playground, 1);
  CHECK_FALSE(playground.settling());
  CHECK_FALSE(playground.snapshot().failed);
  CHECK(playground.snapshot().playing);
  CHECK(playground.snapshot().step >= 5);
  playground.pause();
  std::remove(csv.c_str());
}

TEST_CASE("embed mode with a few panels draws, and set_settings applies a change live") {
  Frames frames;
  Playground playground(toy("embed=1&panels=run,loss"), "/nonexistent", "/tmp", Run::Mode::Sliced);
  frames.draw(playground, 5);
  CHECK(playground.settings().embed);
  Settings next = playground.settings();
  next.lr = 0.02;  // live: the same run goes on
  next.panels.clear();
  playground.set_settings(next);
  frames.draw(playground, 5);
  CHECK(to_query(playground.settings()) == to_query(next));
  CHECK_FALSE(playground.snapshot().failed);
}

TEST_CASE("a failed download is shown, and a reset tries it again") {
  Frames frames;
  int tries = 0;
  Playground playground(toy("dataset=mnist"), "/nonexistent", "/tmp", Run::Mode::Sliced);
  playground.data_availability = [&](const std::string&, bool retry) {
    if (retry) ++tries;
    return DataAvailability{false, 0, "cannot download mnist: HTTP 404"};
  };
  frames.draw(playground, 3);
  CHECK(playground.data_error() == "cannot download mnist: HTTP 404");
  CHECK(tries == 0);
  playground.play();
  playground.reset();  // also forgets the play waiting for the data
  frames.draw(playground, 3);
  CHECK(tries == 1);
  CHECK_FALSE(playground.snapshot().playing);
}

// A tutorial sets a new data set and plays at once, before the training
// thread has got to the change: the play must not be lost.
TEST_CASE("play right after a change that starts a new run is kept, and settled() says when the change is in") {
  Run run(toy(), "/nonexistent");
  run.wait_idle();
  run.apply(toy("dataset=circle"));
  run.play();
  CHECK(wait_for(run, [&](const Snapshot& s) { return run.settled(s) && s.step >= 3; }));
  CHECK(run.snapshot()->settings.dataset == "circle");
  CHECK(run.snapshot()->playing);
  run.pause();
  run.wait_idle();
  CHECK(run.settled(*run.snapshot()));
}

TEST_CASE("compare= names a race of up to four algorithms, kept in the query string") {
  std::vector<std::string> problems;
  const Settings s = from_query("compare=strict,epc,exact&dataset=spiral", Settings(), &problems);
  CHECK(problems.empty());
  CHECK(s.compare == std::vector<Racer>{{ErrType::Strict, false}, {ErrType::ErrorBased, false}, {ErrType::Exact, false}});
  CHECK(s.raced() == s.compare);
  CHECK(from_query(to_query(s), Settings(), nullptr) == s);
  CHECK(to_query(s).find("compare=strict,epc,exact") != std::string::npos);
  CHECK(Settings().raced() == std::vector<Racer>{{Settings().err, false}});  // no race: err alone
  CHECK(to_query(Settings()).find("compare=") == std::string::npos);
  Settings t = s;
  t.compare.pop_back();
  CHECK(t.needs_reset_from(s));  // another race is another run
  CHECK(from_query("compare=ipc,ipc,strict", Settings(), nullptr).compare.size() == 2);  // repeats count once
  CHECK(from_query("compare=", s, nullptr).compare.empty());                            // ends a race
  for (const char* bad : {"compare=strict,epc,exact,ipc,fixedpred", "compare=strict,backprop", "compare=strict:sp"}) {
    problems.clear();
    CHECK(from_query(bad, s, &problems).compare == s.compare);  // refused whole: the race stays as it was
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("up to 4") != std::string::npos);
  }
}

TEST_CASE("a race trains each algorithm exactly as it would train alone") {
  const Settings race = toy("compare=strict,epc,exact,ipc&compare_bp=1");
  Run run(race, "/nonexistent");
  run.step(StepLevel::Update, 6);
  run.wait_idle();
  const auto s = run.snapshot();
  REQUIRE(s->lanes.size() == 4);
  CHECK(s->step == 6);
  const std::vector<std::vector<StepRecord>> raced = history_of(run);
  REQUIRE(raced.size() == 4);
  for (size_t lane = 0; lane < 4; ++lane) {
    CAPTURE(lane);
    CHECK(s->lanes[lane].racer == race.compare[lane]);
    CHECK(s->lanes[lane].step == 6);
    Settings one = race;
    one.compare.clear();
    one.err = race.compare[lane].err;
    const std::vector<std::vector<StepRecord>> solo = trained(one, 6);
    REQUIRE(solo.size() == 1);
    REQUIRE(raced[lane].size() == 6);
    REQUIRE(solo[0].size() == 6);
    for (size_t k = 0; k < 6; ++k) {  // the same weights, batches and updates, to the bit
      CHECK(raced[lane][k].train.loss == solo[0][k].train.loss);
      CHECK(raced[lane][k].test.loss == solo[0][k].test.loss);
      CHECK(raced[lane][k].bp_test.loss == solo[0][k].bp_test.loss);
      CHECK(raced[lane][k].agreement.at(0).rel_error == solo[0][k].agreement.at(0).rel_error);
    }
    CHECK(raced[lane][0].train.loss == raced[0][0].train.loss);  // one initial model, one first batch
  }
  CHECK(raced[2][3].agreement.at(0).rel_error == 0);  // backprop against itself
}

TEST_CASE("a resmlp: net races in muPC's parameterisation too, named epc:mupc") {
  std::vector<std::string> problems;
  const Settings s = from_query("model=resmlp:16,4&compare=strict,strict:mupc,EPC:MUPC", Settings(), &problems);
  CHECK(problems.empty());
  CHECK(s.compare == std::vector<Racer>{{ErrType::Strict, false}, {ErrType::Strict, true}, {ErrType::ErrorBased, true}});
  CHECK(to_query(s).find("compare=strict,strict:mupc,epc:mupc") != std::string::npos);
  CHECK(from_query(to_query(s), Settings(), nullptr) == s);
  CHECK(racer_model("resmlp:16,4:tanh", {ErrType::Strict, true}) == "mupc:16,4:tanh");
  CHECK(racer_model("resmlp:16,4:tanh", {ErrType::Strict, false}) == "resmlp:16,4:tanh");
  CHECK(racer_label({ErrType::ErrorBased, true}) == "ePC (error-based), muPC");

  // Elsewhere μPC has no second form: a dense net drops those racers and
  // says so; on mupc: itself the flag repeats the model, and counts once.
  problems.clear();
  Settings dense = from_query("model=dense:8:tanh&compare=strict:mupc,exact", Settings(), &problems);
  CHECK(dense.compare == std::vector<Racer>{{ErrType::Strict, false}, {ErrType::Exact, false}});
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("needs a resmlp:") != std::string::npos);
  problems.clear();
  const Settings mu = from_query("model=mupc:16,4&compare=strict,strict:mupc", Settings(), &problems);
  CHECK(problems.empty());
  CHECK(mu.compare.empty());
  CHECK(mu.err == ErrType::Strict);
  Settings switched = s;  // the playground's model combo: from resmlp: to a dense net
  switched.model = "dense:8:tanh";
  CHECK_FALSE(switched.fit_race_to_model().empty());
  CHECK(switched.compare == std::vector<Racer>{{ErrType::Strict, false}, {ErrType::ErrorBased, false}});
}

TEST_CASE("a muPC lane trains the mupc: net exactly as it would alone, on the race's batches") {
  Run run(toy("model=resmlp:8,3:tanh&compare=strict,strict:mupc&compare_bp=1"), "/nonexistent");
  run.step(StepLevel::Update, 5);
  run.wait_idle();
  const std::vector<std::vector<StepRecord>> raced = history_of(run);
  REQUIRE(raced.size() == 2);
  REQUIRE(raced[1].size() == 5);
  CHECK(run.snapshot()->lanes.at(1).racer == Racer{ErrType::Strict, true});
  CHECK(raced[0][0].train.loss != raced[1][0].train.loss);  // its own initial weights

  const std::vector<std::vector<StepRecord>> solo = trained(toy("model=mupc:8,3:tanh&err=strict&compare_bp=1"), 5);
  REQUIRE(solo.size() == 1);
  REQUIRE(solo[0].size() == 5);
  for (size_t k = 0; k < 5; ++k) {  // the same batches and updates, to the bit
    CHECK(raced[1][k].train.loss == solo[0][k].train.loss);
    CHECK(raced[1][k].agreement.at(0).rel_error == solo[0][k].agreement.at(0).rel_error);
  }
}

TEST_CASE("a race steps its lanes together, and a lane that diverges stops alone") {
  Run run(toy("compare=strict,exact"), "/nonexistent");
  run.step(StepLevel::Iteration);
  run.wait_idle();
  auto s = run.snapshot();
  CHECK(s->lanes.at(0).relaxing == 1);
  CHECK(s->lanes.at(1).step == 1);  // backprop's "iteration" is its whole step
  run.step(StepLevel::Iteration);
  run.wait_idle();
  CHECK(run.snapshot()->lanes.at(1).step == 1);  // and it waits for the others
  run.step(StepLevel::Update);
  run.wait_idle();
  s = run.snapshot();
  CHECK(s->lanes.at(0).step == 1);
  CHECK(s->lanes.at(1).step == 1);
  CHECK(s->step == 1);

  run.apply(toy("compare=strict,exact&eta=3&n=500"));  // live: Strict diverges, backprop does not relax
  run.play();
  REQUIRE(wait_for(run, [](const Snapshot& x) { return x.lanes.size() == 2 && x.lanes[0].diverged && x.step >= 30; }));
  s = run.snapshot();
  CHECK_FALSE(s->diverged);  // the race goes on
  CHECK(s->playing);
  CHECK(s->lanes[0].status.find("diverged at step") == 0);
  CHECK(s->lanes[1].step > s->lanes[0].step);
  run.pause();
  run.wait_idle();
}

namespace {

// A lane's history of `steps` made-up records: accuracy, loss (falling by
// `fall` per step), layer 1's share of backprop's signal and angle, and energy rises.
std::vector<StepRecord> made_up(size_t steps, double accuracy, double fall, double signal, double angle, bool rose) {
  std::vector<StepRecord> h(steps);
  for (size_t i = 0; i < steps; ++i) {
    h[i].step = static_cast<long>(i) + 1;
    h[i].test.accuracy = accuracy;
    h[i].train.loss = 0.7 - fall * static_cast<double>(i);
    GradientAgreement a{0.5, angle};
    a.norm_ratio = signal;
    h[i].agreement = {a, a};
    h[i].energy_rose = rose;
  }
  return h;
}

}  // namespace

TEST_CASE("guidance names what keeps a lane from learning, and offers the change that helps") {
  const Settings strict = toy("err=strict&compare_bp=1");
  CHECK(guidance(strict, {made_up(kGuidanceWindow - 1, 0.5, 0, 0.08, 5, false)}).empty());  // too soon to judge
  CHECK(guidance(strict, {made_up(400, 0.5, 1e-3, 0.08, 5, false)}).empty());               // the loss falls
  CHECK(guidance(strict, {made_up(400, 0.95, 0, 0.08, 5, false)}).empty());                 // it has learned

  std::vector<Guidance> g = guidance(strict, {made_up(400, 0.5, 0, 0.08, 5, false)});
  REQUIRE(g.size() == 1);
  CHECK(g[0].text == "Strict PC: layer 1 receives 8 % of backprop's signal (test accuracy 0.50): the error decays on its way down.");
  REQUIRE(g[0].remedies.size() == 2);
  CHECK(g[0].remedies[0].settings.err == ErrType::ErrorBased);
  CHECK(g[0].remedies[1].settings.n == 25);

  g = guidance(strict, {made_up(400, 0.5, 0, 0.9, 5, true)});
  REQUIRE(g.size() == 1);
  CHECK(g[0].text.find("the energy rose during 100 of the last 100 relaxations") != std::string::npos);
  REQUIRE(g[0].remedies.size() == 2);
  CHECK(g[0].remedies[0].settings.eta == doctest::Approx(0.01));
  CHECK(g[0].remedies[1].settings.raced() ==
        std::vector<Racer>{{ErrType::Strict, false}, {ErrType::ErrorBased, false}, {ErrType::Exact, false}});  // the race that explains it

  g = guidance(strict, {made_up(400, 0.5, 0, 0.9, 120, false)});
  REQUIRE(g.size() == 1);
  CHECK(g[0].text.find("layer 1's update points 120 degrees away") != std::string::npos);

  // In a race, a line for each lane that is stuck, and only for those.
  const Settings race = toy("compare=exact,strict&compare_bp=1&lr=0.003");
  g = guidance(race, {made_up(400, 0.98, 0, 1, 0, false), made_up(400, 0.5, 0, 0.9, 5, false)});
  REQUIRE(g.size() == 1);
  CHECK(g[0].lane == 1);
  CHECK(g[0].text.find("Strict PC: the loss has not fallen in the last 100 steps") == 0);
  CHECK(g[0].remedies.at(0).settings.lr == 0.01);
}

TEST_CASE("guidance offers muPC's parameterisation to a resmlp: net whose signal decays") {
  const Settings deep = toy("model=resmlp:16,8&compare=strict,exact&compare_bp=1");
  const std::vector<Guidance> g =
      guidance(deep, {made_up(400, 0.5, 0, 0.05, 5, false), made_up(400, 0.98, 0, 1, 0, false)});
  REQUIRE(g.size() == 1);
  const auto with_mupc = std::find_if(g[0].remedies.begin(), g[0].remedies.end(),
                                      [](const Remedy& r) { return r.label == "race it in muPC's parameterisation"; });
  REQUIRE(with_mupc != g[0].remedies.end());
  CHECK(with_mupc->settings.compare ==
        std::vector<Racer>{{ErrType::Strict, false}, {ErrType::Exact, false}, {ErrType::Strict, true}});
  // A dense net has no such form to offer.
  const std::vector<Guidance> dense = guidance(toy("model=dense:16,16:tanh&compare=strict,exact&compare_bp=1"),
                                               {made_up(400, 0.5, 0, 0.05, 5, false), made_up(400, 0.98, 0, 1, 0, false)});
  REQUIRE(dense.size() == 1);
  for (const auto& r : dense[0].remedies) CHECK(r.label.find("muPC") == std::string::npos);
}

TEST_CASE("Strict PC on the deep spiral net is told why it does not learn") {
  const Settings deep = from_query("dataset=spiral&model=mlp-2d-deep&err=strict&lr=0.01", Settings(), nullptr);
  const std::vector<Guidance> g = guidance(deep, trained(deep, 400));
  REQUIRE(g.size() == 1);
  CHECK(g[0].text.find("Strict PC: ") == 0);
  CHECK_FALSE(g[0].remedies.empty());
}
