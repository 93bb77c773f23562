// pcplay-gui: the playground in a desktop window (SDL2 + OpenGL3 + Dear
// ImGui). Thin: the window, the loop and the scripted mode; the UI is ui/.
#include <SDL.h>
#include <SDL_opengl.h>
#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>
#include <backends/imgui_impl_sdl.h>
#include <stb_image_write.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "data_dir.h"
#include "playground.h"
#include "sdl_frame.h"
#include "theme.h"

namespace {

bool write_screenshot(const std::string& path, int width, int height) {
  std::vector<unsigned char> pixels(static_cast<size_t>(width) * height * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
  std::vector<unsigned char> flipped(pixels.size());  // OpenGL's rows run bottom-up
  for (int y = 0; y < height; ++y)
    std::copy_n(pixels.data() + static_cast<size_t>(height - 1 - y) * width * 4, width * 4,
                flipped.data() + static_cast<size_t>(y) * width * 4);
  return stbi_write_png(path.c_str(), width, height, 4, flipped.data(), width * 4) != 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pcplay-gui: the predictive-coding playground", "pcplay-gui"};
  std::string state, screenshot, data_dir = pcplay::default_data_dir(), export_dir = ".";
  bool play = false;
  int frames = 0, width = 1280, height = 800;
  app.add_option("--state", state, "Settings as a query string (dataset=spiral&err=strict&eta=0.1&n=20&...)");
  app.add_flag("--play", play, "Start training at once");
  app.add_option("--frames", frames, "Run this many frames, then exit")->check(CLI::NonNegativeNumber);
  app.add_option("--screenshot", screenshot, "Write the window to this PNG after the last frame");
  app.add_option("--data-dir", data_dir, "Where mnist and fashion-mnist are")->capture_default_str();
  app.add_option("--export-dir", export_dir, "Where the export buttons write")->capture_default_str();
  app.add_option("--width", width, "Window width")->check(CLI::Range(320, 8192))->capture_default_str();
  app.add_option("--height", height, "Window height")->check(CLI::Range(240, 8192))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "pcplay-gui: error: %s (see pcplay-gui --help)\n", e.what());
    return 2;
  }
  std::vector<std::string> problems;
  const pcplay::ui::Settings settings = pcplay::ui::from_query(state, pcplay::ui::Settings(), &problems);
  for (const std::string& p : problems) std::fprintf(stderr, "pcplay-gui: %s\n", p.c_str());

  if (SDL_Init(SDL_INIT_VIDEO | SDL_INIT_TIMER) != 0) {
    std::fprintf(stderr, "pcplay-gui: error: cannot start SDL: %s\n", SDL_GetError());
    return 1;
  }
  SDL_GL_SetAttribute(SDL_GL_CONTEXT_PROFILE_MASK, SDL_GL_CONTEXT_PROFILE_CORE);
  SDL_GL_SetAttribute(SDL_GL_CONTEXT_MAJOR_VERSION, 3);
  SDL_GL_SetAttribute(SDL_GL_CONTEXT_MINOR_VERSION, 2);
  SDL_GL_SetAttribute(SDL_GL_DOUBLEBUFFER, 1);
  SDL_Window* window = SDL_CreateWindow("pcplay", SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, width, height,
                                        SDL_WINDOW_OPENGL | SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
  SDL_GLContext gl = window ? SDL_GL_CreateContext(window) : nullptr;
  if (!gl) {
    std::fprintf(stderr, "pcplay-gui: error: cannot open an OpenGL 3.2 window: %s\n", SDL_GetError());
    SDL_Quit();
    return 1;
  }
  SDL_GL_MakeCurrent(window, gl);
  SDL_GL_SetSwapInterval(1);

  float dpi = 96;
  if (SDL_GetDisplayDPI(SDL_GetWindowDisplayIndex(window), &dpi, nullptr, nullptr) != 0 || dpi < 48) dpi = 96;
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;  // no imgui.ini in the user's folder
  pcplay::ui::apply_theme(std::max(1.0f, dpi / 96.0f));
  ImGui_ImplSDL2_InitForOpenGL(window, gl);
  ImGui_ImplOpenGL3_Init("#version 150");

  int status = 0;
  {
    pcplay::ui::GlHeatTextures heat_textures;  // gone before the GL context
    pcplay::ui::Playground playground(settings, data_dir, export_dir);
    playground.notices = problems;
    if (play) playground.run().play();
    using Clock = std::chrono::steady_clock;
    auto last = Clock::now();
    // The scripted mode's report: each frame's work (events, drawing, swap;
    // not the wait for the next frame) after a warm-up, and the steps made meanwhile.
    constexpr int kWarmUp = 30;
    std::vector<double> work_ms;
    Clock::time_point measured_from;
    long steps_from = 0;
    for (int frame = 0; frames == 0 || frame < frames; ++frame) {
      const auto start = Clock::now();
      if (frame == kWarmUp) measured_from = start, steps_from = playground.snapshot().step;
      if (pcplay::ui::poll_events(window)) break;
      pcplay::ui::draw_frame(playground, window);
      int w, h;
      SDL_GL_GetDrawableSize(window, &w, &h);
      if (frames > 0 && frame + 1 == frames && !screenshot.empty() && !write_screenshot(screenshot, w, h)) {
        std::fprintf(stderr, "pcplay-gui: error: cannot write %s\n", screenshot.c_str());
        status = 1;
      }
      SDL_GL_SwapWindow(window);
      if (frame >= kWarmUp) work_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      // At most 60 frames a second, with or without vsync (Xvfb has none).
      const auto next = last + std::chrono::microseconds(16667);
      std::this_thread::sleep_until(next);
      last = std::max(next, Clock::now() - std::chrono::milliseconds(100));
    }
    if (frames > 0) {  // the scripted mode says where the run got to
      const auto s = playground.run().snapshot();
      std::printf("pcplay-gui: %d frames: step %ld, epoch %.2f, %s\n", frames, s->step, s->epoch,
                  s->diverged || s->failed ? s->status.c_str() : "ok");
      if (work_ms.size() >= 10) {
        const double seconds = std::chrono::duration<double>(Clock::now() - measured_from).count();
        std::sort(work_ms.begin(), work_ms.end());
        std::printf("pcplay-gui: after %d frames of warm-up: %.1f frames/s, frame work median %.1f ms, 95th "
                    "percentile %.1f ms; %.1f steps/s\n",
                    kWarmUp, static_cast<double>(work_ms.size()) / seconds, work_ms[work_ms.size() / 2],
                    work_ms[work_ms.size() * 95 / 100], static_cast<double>(s->step - steps_from) / seconds);
      }
      if (s->failed) status = 1;
    }
  }
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplSDL2_Shutdown();
  ImGui::DestroyContext();
  SDL_GL_DeleteContext(gl);
  SDL_DestroyWindow(window);
  SDL_Quit();
  return status;
}
