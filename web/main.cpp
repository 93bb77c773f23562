// pcplay in a browser tab: the playground of ui/ drawn with WebGL2 through
// SDL2, one frame per animation frame. Thin: the window, the loop, and the C
// functions the page's script (web/pcplay-api.js) calls; the page fetches the
// data sets, hands over dropped files, keeps the URL hash and offers downloads.
//
// Single-threaded build: training runs in slices of each frame. Threaded build
// (-pthread, on a cross-origin isolated page): training runs on a worker.
#include <GLES3/gl3.h>
#include <SDL.h>
#include <backends/imgui_impl_opengl3.h>
#include <backends/imgui_impl_sdl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <emscripten.h>
#include <emscripten/heap.h>
#include <emscripten/html5.h>
#include <malloc.h>
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets.h"
#include "file_util.h"
#include "metrics.h"
#include "playground.h"
#include "sdl_frame.h"
#include "theme.h"

namespace {

using namespace pcplay::ui;

constexpr const char* kDataDir = "/data";            // where the page puts fetched data sets
constexpr const char* kDownloadDir = "/downloads";   // exports land here and leave as downloads

#ifdef __EMSCRIPTEN_PTHREADS__
constexpr Run::Mode kRunMode = Run::Mode::Thread;
#else
constexpr Run::Mode kRunMode = Run::Mode::Sliced;
#endif

// The page's side (pcplay-api.js).
// clang-format off
EM_JS(void, page_fetch_dataset, (const char* name), { Module.pcplayFetchDataset(UTF8ToString(name)); });
EM_JS(void, page_frame, (const char* query, double step), { Module.pcplayFrame(UTF8ToString(query), step); });
EM_JS(void, page_download, (const char* path), { Module.pcplayDownload(UTF8ToString(path)); });
EM_JS(void, page_share_link, (const char* query), { Module.pcplayShareLink(UTF8ToString(query)); });
EM_JS(void, page_fail, (const char* message), { Module.pcplayFail(UTF8ToString(message)); });
// clang-format on

struct App {
  SDL_Window* window = nullptr;
  SDL_GLContext gl = nullptr;
  float pixel_ratio = 1;
  std::unique_ptr<GlHeatTextures> heat_textures;  // the page's GL context lives as long
  std::unique_ptr<Playground> playground;
  std::map<std::string, DataAvailability> downloads;  // the data sets the page fetches
  std::string last_query;
  long last_step = -1;
  double frame_ms = 0;  // the time a frame takes here (UI, and training in the sliced build), smoothed
  std::string reply;  // the last string handed to the page
};
App* app = nullptr;

// Data sets read from files come when first chosen (the toy sets are made here).
bool fetched_on_demand(const std::string& dataset) {
  for (const auto& d : pcplay::named_datasets())
    if (dataset == d.name) return d.value == pcplay::DataOrigin::Downloaded;
  return false;
}

DataAvailability availability(const std::string& dataset, bool retry) {
  if (!fetched_on_demand(dataset)) return {};
  auto it = app->downloads.find(dataset);
  if (it != app->downloads.end() && retry && !it->second.error.empty()) {
    app->downloads.erase(it);  // a failed download, tried again on reset
    it = app->downloads.end();
  }
  if (it == app->downloads.end()) {
    it = app->downloads.emplace(dataset, DataAvailability{false, 0, ""}).first;
    page_fetch_dataset(dataset.c_str());
  }
  return it->second;
}

// Whatever the exports wrote is handed to the browser (and removed here).
void deliver_downloads() {
  DIR* dir = opendir(kDownloadDir);
  if (!dir) return;
  std::vector<std::string> ready;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || pcplay::has_suffix(name, ".tmp")) continue;  // write_file_atomically's
    ready.push_back(std::string(kDownloadDir) + "/" + name);
  }
  closedir(dir);
  for (const std::string& path : ready) page_download(path.c_str());
}

void update_pixel_ratio() {
  const float ratio = static_cast<float>(emscripten_get_device_pixel_ratio());
  if (!(ratio > 0) || ratio == app->pixel_ratio) return;
  app->pixel_ratio = ratio;
  load_font(1, ratio);
  ImGui_ImplOpenGL3_DestroyFontsTexture();
  ImGui_ImplOpenGL3_CreateFontsTexture();
}

void frame() {
  const double start = emscripten_get_now();
  poll_events(app->window);  // a page is closed by its tab, not by SDL
  update_pixel_ratio();
  draw_frame(*app->playground, app->window);

  deliver_downloads();
  app->frame_ms += 0.05 * (emscripten_get_now() - start - app->frame_ms);
  const std::string query = to_query(app->playground->settings());
  const long step = app->playground->snapshot().step;
  if (query != app->last_query || step != app->last_step) {
    app->last_query = query;
    app->last_step = step;
    page_frame(query.c_str(), static_cast<double>(step));
  }
}

const char* reply(std::string text) {
  app->reply = std::move(text);
  return app->reply.c_str();
}

}  // namespace

// The page's calls (see pcplay-api.js). Strings returned stay valid until the next call.
extern "C" {

// Applies settings given as a query string, over the current ones or (a
// permalink: from_defaults) over the defaults; returns the problems found, one
// per line (empty: none).
EMSCRIPTEN_KEEPALIVE const char* pcplay_set(const char* query, int from_defaults) {
  std::vector<std::string> problems;
  const Settings next = from_query(query, from_defaults ? Settings() : app->playground->settings(), &problems);
  app->playground->set_settings(next);
  std::string text;
  for (const std::string& p : problems) text += p + "\n";
  return reply(text);
}

EMSCRIPTEN_KEEPALIVE const char* pcplay_get() { return reply(to_query(app->playground->settings())); }
EMSCRIPTEN_KEEPALIVE void pcplay_play() { app->playground->play(); }
EMSCRIPTEN_KEEPALIVE void pcplay_pause() { app->playground->pause(); }
EMSCRIPTEN_KEEPALIVE void pcplay_reset() { app->playground->reset(); }

// level: iteration | relaxation | update | epoch; returns the count taken, or
// -1 for an unknown level. Updates and epochs are targets the run pursues
// between frames; iterations and relaxations run at once, so their count is
// capped (400 iterations, 10 relaxations) to keep a frame short.
EMSCRIPTEN_KEEPALIVE int pcplay_step(const char* level, int count) {
  const std::string l = level;
  struct Level {
    const char* name;
    StepLevel level;
    int most;
  };
  const Level levels[] = {{"iteration", StepLevel::Iteration, 400},
                          {"relaxation", StepLevel::Relaxation, 10},
                          {"update", StepLevel::Update, 1000000},
                          {"epoch", StepLevel::Epoch, 10000}};
  for (const Level& lv : levels)
    if (l == lv.name) {
      count = std::clamp(count, 1, lv.most);
      app->playground->run().step(lv.level, count);
      return count;
    }
  return -1;
}

// Where the run is, as JSON (the numbers of the last frame drawn): its state;
// the metrics of the lead's last step under their CSV column names (null
// before the first step, and for a number that is not finite); `lanes`, the
// same per raced algorithm with its name, per-layer errors and energy; and the
// guidance lines shown under the curves.
EMSCRIPTEN_KEEPALIVE const char* pcplay_metrics() {
  const Snapshot& s = app->playground->snapshot();
  const std::vector<std::vector<pcplay::StepRecord>>& history = app->playground->history();
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json m = {{"playing", s.playing},
                      {"loading", s.loading || app->playground->settling()},
                      {"data_error", app->playground->data_error()},
                      {"diverged", s.diverged},
                      {"failed", s.failed},
                      {"status", s.status},
                      {"steps_per_second", s.steps_per_second},
                      {"samples_per_second", s.samples_per_second},
                      {"ms_per_iteration", s.ms_per_iteration},
                      {"ms_per_update", s.ms_per_update},
                      {"frame_ms", app->frame_ms},
                      // memory: the bytes malloc has handed out, and the wasm memory's size (it never shrinks)
                      {"wasm_heap_used", static_cast<double>(mallinfo().uordblks)},
                      {"wasm_memory", static_cast<double>(emscripten_get_heap_size())}};
  const pcplay::Index depth = s.shapes.empty() ? 0 : static_cast<pcplay::Index>(s.shapes.size()) - 1;
  // A lane's record of the snapshot's step (the history runs ahead of the
  // snapshots, which are published at most 20 times a second).
  auto lane_metrics = [&](size_t lane) {
    nlohmann::json out;
    const LaneSnapshot* ls = lane < s.lanes.size() ? &s.lanes[lane] : nullptr;
    const std::vector<pcplay::StepRecord> none;
    const std::vector<pcplay::StepRecord>& h = lane < history.size() ? history[lane] : none;
    const long step = ls ? ls->step : s.step;
    auto r = std::find_if(h.rbegin(), h.rend(), [&](const pcplay::StepRecord& rec) { return rec.step <= step; });
    for (const auto& [name, value] :
         pcplay::metrics_fields(r != h.rend() ? *r : pcplay::StepRecord(), depth, s.settings.compare_bp))
      out[name] = r != h.rend() ? number(value) : nlohmann::json();
    out["step"] = step;
    out["energy"] = nlohmann::json::array();
    if (ls) {
      out["name"] = pcplay::ui::racer_name(ls->racer);
      out["label"] = pcplay::ui::racer_label(ls->racer);
      out["diverged"] = ls->diverged;
      out["status"] = ls->status;
      for (const pcplay::SweepStats& st : ls->sweeps) out["energy"].push_back(number(st.energy));
      out["eps_norm"] = nlohmann::json::array();
      if (!ls->sweeps.empty())
        for (double e : ls->sweeps.back().eps_norm) out["eps_norm"].push_back(number(e));
    }
    return out;
  };
  const nlohmann::json lead = lane_metrics(0);  // the lead's columns at the top level, as before races
  for (auto it = lead.begin(); it != lead.end(); ++it)
    if (!m.contains(it.key()) && it.key() != "name" && it.key() != "label" && it.key() != "eps_norm") m[it.key()] = *it;
  m["step"] = s.step;
  m["epoch"] = s.epoch;
  m["lanes"] = nlohmann::json::array();
  for (size_t lane = 0; lane < s.lanes.size(); ++lane) m["lanes"].push_back(lane_metrics(lane));
  m["guidance"] = nlohmann::json::array();
  for (const Guidance& g : app->playground->guidance()) {
    nlohmann::json remedies = nlohmann::json::array();
    for (const Remedy& r : g.remedies) remedies.push_back({{"label", r.label}, {"settings", to_query(r.settings)}});
    m["guidance"].push_back({{"lane", g.lane}, {"text", g.text}, {"remedies", remedies}});
  }
  return reply(m.dump());
}

// The choices each setting offers, from core's lists: {"err": [{"name":
// "strict", "label": "Strict PC"}, ...], "loss": ..., "optimizer": ...,
// "dataset": ...}.
EMSCRIPTEN_KEEPALIVE const char* pcplay_choices() {
  auto list = [](const auto& named) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& n : named) out.push_back({{"name", n.name}, {"label", n.label}});
    return out;
  };
  const nlohmann::json c = {{"err", list(pcplay::err_types())},
                            {"loss", list(pcplay::loss_kinds())},
                            {"optimizer", list(pcplay::optimizer_kinds())},
                            {"dataset", list(pcplay::named_datasets())}};
  return reply(c.dump());
}

// Progress of a data set the page fetches: ready once its files are under /data.
EMSCRIPTEN_KEEPALIVE void pcplay_data_progress(const char* name, double progress, int ready, const char* error) {
  app->downloads[name] = DataAvailability{ready != 0, progress, error ? error : ""};
}

// A file the user dropped on the page (already written to the page's file
// system): data (a CSV file or a folder of IDX files), a model (.json), or
// weights (.safetensors). Returns what was done with it.
EMSCRIPTEN_KEEPALIVE const char* pcplay_open_file(const char* path_text) {
  const std::string path = path_text;
  if (pcplay::has_suffix(path, ".safetensors")) {
    app->playground->run().load_weights(path);
    return reply("starting from the weights in " + path);
  }
  const char* key = pcplay::has_suffix(path, ".json") ? "model" : "dataset";
  std::vector<std::string> problems;
  const Settings next = from_query(std::string(key) + "=" + url_encode(path), app->playground->settings(), &problems);
  if (!problems.empty()) return reply(problems.front());
  app->playground->set_settings(next);
  return reply(std::string(key == std::string("model") ? "model" : "data") + " from " + path);
}

}  // extern "C"

// argv[1]: the settings (the URL hash, without '#').
int main(int argc, char** argv) {
  std::vector<std::string> problems;
  const Settings settings = from_query(argc > 1 ? argv[1] : "", Settings(), &problems);
  for (const std::string& p : problems) std::fprintf(stderr, "pcplay: %s\n", p.c_str());

  mkdir(kDataDir, 0755);  // in the page's in-memory file system
  mkdir(kDownloadDir, 0755);
  // Keys go to the canvas only, so that the page's own fields keep theirs.
  SDL_SetHint(SDL_HINT_EMSCRIPTEN_KEYBOARD_ELEMENT, "#canvas");
  if (SDL_Init(SDL_INIT_VIDEO | SDL_INIT_TIMER) != 0) {
    page_fail((std::string("cannot start SDL: ") + SDL_GetError()).c_str());
    return 1;
  }
  SDL_GL_SetAttribute(SDL_GL_CONTEXT_PROFILE_MASK, SDL_GL_CONTEXT_PROFILE_ES);
  SDL_GL_SetAttribute(SDL_GL_CONTEXT_MAJOR_VERSION, 3);
  SDL_GL_SetAttribute(SDL_GL_CONTEXT_MINOR_VERSION, 0);
  SDL_GL_SetAttribute(SDL_GL_DOUBLEBUFFER, 1);
  double css_w = 1280, css_h = 800;
  emscripten_get_element_css_size("#canvas", &css_w, &css_h);
  app = new App;
  // Resizable with a CSS-sized canvas: SDL follows the page's layout and the pixel ratio.
  app->window = SDL_CreateWindow("pcplay", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, static_cast<int>(css_w),
                                 static_cast<int>(css_h),
                                 SDL_WINDOW_OPENGL | SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
  app->gl = app->window ? SDL_GL_CreateContext(app->window) : nullptr;
  if (!app->gl) {
    page_fail((std::string("this browser gives no WebGL2 context: ") + SDL_GetError()).c_str());
    return 1;
  }
  SDL_GL_MakeCurrent(app->window, app->gl);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;
  app->pixel_ratio = static_cast<float>(emscripten_get_device_pixel_ratio());
  apply_theme(1, app->pixel_ratio);
  ImGui_ImplSDL2_InitForOpenGL(app->window, app->gl);
  ImGui_ImplOpenGL3_Init("#version 300 es");

  app->heat_textures = std::make_unique<GlHeatTextures>();
  app->playground = std::make_unique<Playground>(settings, kDataDir, kDownloadDir, kRunMode);
  app->playground->notices = problems;
  app->playground->data_availability = availability;
  app->playground->share_link = [](const std::string& query) { page_share_link(query.c_str()); };
  // A visit shows a network learning at once; a tutorial's embedded playground waits for its page.
  if (!settings.embed) app->playground->play();
  std::printf("pcplay: ready (%s)\n", kRunMode == Run::Mode::Thread ? "threaded" : "single-threaded");
  emscripten_set_main_loop(frame, 0, false);  // the browser's frame rate
  return 0;
}
