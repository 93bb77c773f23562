#include "sdl_frame.h"

#include <SDL.h>

#include <cstdint>
#include <backends/imgui_impl_opengl3.h>
#include <backends/imgui_impl_sdl.h>
#include <imgui.h>
// The GL calls below are in OpenGL 3 and in OpenGL ES 3 (WebGL2) alike.
#ifdef __EMSCRIPTEN__
#include <GLES3/gl3.h>
#else
#include <SDL_opengl.h>
#endif

#include "playground.h"

namespace pcplay::ui {

namespace {
GLuint gl_name(ImTextureID texture) { return static_cast<GLuint>(reinterpret_cast<intptr_t>(texture)); }
}  // namespace

GlHeatTextures::GlHeatTextures() { plot::use_heat_textures(this); }

GlHeatTextures::~GlHeatTextures() {
  plot::use_heat_textures(nullptr);
  destroy_all();
}

ImTextureID GlHeatTextures::create(int w, int h) {
  GLuint texture = 0;
  glGenTextures(1, &texture);
  glBindTexture(GL_TEXTURE_2D, texture);
  // Cells stay crisp: each is a block of screen pixels, not a blend of its neighbours.
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
  return reinterpret_cast<ImTextureID>(static_cast<intptr_t>(texture));
}

void GlHeatTextures::upload(ImTextureID texture, int w, int h, const ImU32* pixels) {
  glBindTexture(GL_TEXTURE_2D, gl_name(texture));
  glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  // IM_COL32 packs R in the low byte: in memory, R G B A.
  glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels);
}

void GlHeatTextures::destroy(ImTextureID texture) {
  const GLuint name = gl_name(texture);
  glDeleteTextures(1, &name);
}

bool poll_events(SDL_Window* window) {
  bool quit = false;
  SDL_Event event;
  while (SDL_PollEvent(&event)) {
    ImGui_ImplSDL2_ProcessEvent(&event);
    if (event.type == SDL_QUIT || (event.type == SDL_WINDOWEVENT && event.window.event == SDL_WINDOWEVENT_CLOSE &&
                                   event.window.windowID == SDL_GetWindowID(window)))
      quit = true;
  }
  return quit;
}

void draw_frame(Playground& playground, SDL_Window* window) {
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplSDL2_NewFrame();
  // Two frames can share a timestamp (a browser's); ImGui asserts on a zero step.
  ImGuiIO& io = ImGui::GetIO();
  if (!(io.DeltaTime > 0)) io.DeltaTime = 1e-4f;
  ImGui::NewFrame();
  playground.frame();
  ImGui::Render();
  int w, h;
  SDL_GL_GetDrawableSize(window, &w, &h);
  glViewport(0, 0, w, h);
  glClearColor(0.97f, 0.97f, 0.96f, 1);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  if (plot::HeatTextures* textures = plot::current_heat_textures()) textures->end_frame();
}

}  // namespace pcplay::ui
