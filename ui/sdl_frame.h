// One frame of the playground in an SDL2 window with an OpenGL 3 (desktop)
// or WebGL2 (browser) context: the loop body both shells share, as Dear
// ImGui's examples share theirs. Compiled into each shell, not into pcplay_ui
// (whose tests need no window).
#pragma once

struct SDL_Window;

namespace pcplay::ui {

class Playground;

// Hands the waiting SDL events to ImGui; true when one asks to close `window`.
bool poll_events(SDL_Window* window);
// Draws the playground into a new ImGui frame and renders it (the caller swaps).
void draw_frame(Playground& playground, SDL_Window* window);

}  // namespace pcplay::ui
