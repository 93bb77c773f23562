// One frame of the playground in an SDL2 window with an OpenGL 3 (desktop)
// or WebGL2 (browser) context: the loop body both shells share, as Dear
// ImGui's examples share theirs. Compiled into each shell, not into pcplay_ui
// (whose tests need no window).
#pragma once

#include "plot.h"

struct SDL_Window;

namespace pcplay::ui {

class Playground;

// The heat maps' textures in the window's GL context: a shell makes one after
// its context and drops it before; meanwhile heat maps are drawn with it.
class GlHeatTextures final : public plot::HeatTextures {
 public:
  GlHeatTextures();
  ~GlHeatTextures() override;
  GlHeatTextures(const GlHeatTextures&) = delete;
  GlHeatTextures& operator=(const GlHeatTextures&) = delete;

 private:
  ImTextureID create(int w, int h) override;
  void upload(ImTextureID texture, int w, int h, const ImU32* pixels) override;
  void destroy(ImTextureID texture) override;
};

// Hands the waiting SDL events to ImGui; true when one asks to close `window`.
bool poll_events(SDL_Window* window);
// Draws the playground into a new ImGui frame and renders it (the caller
// swaps); then frees the heat maps' textures it no longer shows.
void draw_frame(Playground& playground, SDL_Window* window);

}  // namespace pcplay::ui
