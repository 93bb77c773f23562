#include "sdl_frame.h"

#include <SDL.h>
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
}

}  // namespace pcplay::ui
