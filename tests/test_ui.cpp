// The playground's state (settings and their query string) and its run
// thread (pause, stepping at every level, reset, divergence).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include <imgui.h>
#include <unistd.h>

#include "playground.h"
#include "run.h"
#include "settings.h"

using namespace pcplay;
using namespace pcplay::ui;

namespace {

// Waits up to `seconds` for `done`, polling the run's snapshot.
template <typename Pred>
bool wait_for(const Run& run, Pred done, double seconds = 10) {
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
  CHECK(run.snapshot()->relaxing == 1);
  CHECK(run.snapshot()->sweeps.size() == 1);
  run.step(StepLevel::Iteration, 2);
  run.wait_idle();
  CHECK(run.snapshot()->relaxing == 3);
  run.step(StepLevel::Relaxation);
  run.wait_idle();
  CHECK(run.snapshot()->relaxing == 5);  // n = 5
  CHECK(run.history_size() == 0);        // no update yet
  run.step(StepLevel::Update);
  run.wait_idle();
  CHECK(run.snapshot()->relaxing == -1);
  CHECK(run.history_size() == 1);
  CHECK(run.snapshot()->step == 1);
  run.step(StepLevel::Epoch);
  run.wait_idle();
  const auto s = run.snapshot();
  CHECK(s->epoch >= 1.0);
  CHECK(run.history_size() == static_cast<size_t>(s->step));
  std::vector<StepRecord> h;
  uint64_t generation = ~uint64_t(0);
  run.update_history(h, generation);
  CHECK(h.back().step == s->step);
  run.reset();
  run.wait_idle();
  run.update_history(h, generation);  // a reset starts the copy over
  CHECK(h.empty());
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
  CHECK(s->relaxing == -1);
  CHECK(s->sweeps.size() < 500);  // it stopped where the values became non-finite
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
  CHECK(run.snapshot()->relaxing == 1);
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
