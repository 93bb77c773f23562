// The playground's looks: a light theme and DejaVu Sans (embedded at build
// time from Debian's fonts-dejavu-core) scaled for the display.
#pragma once

namespace pcplay::ui {

// Call once after ImGui::CreateContext(). `scale`: how much larger than at
// 96 DPI everything is drawn (in window coordinates); `pixel_ratio`: device
// pixels per window coordinate (a browser's devicePixelRatio), so that text is
// rasterised at the screen's own resolution and stays sharp.
void apply_theme(float scale, float pixel_ratio = 1);
// Rebuilds the font for a new pixel ratio (the window moved to another
// screen, or the page was zoomed); the renderer's font texture must then be
// made again.
void load_font(float scale, float pixel_ratio);

}  // namespace pcplay::ui
