// The playground's looks: a light theme and DejaVu Sans (embedded at build
// time from Debian's fonts-dejavu-core) scaled for the display.
#pragma once

namespace pcplay::ui {

// Call once after ImGui::CreateContext(); `scale` is the display's DPI / 96.
void apply_theme(float scale);

}  // namespace pcplay::ui
