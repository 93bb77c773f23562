#include "theme.h"

#include <imgui.h>

extern const unsigned char dejavu_sans[];
extern const unsigned int dejavu_sans_size;

namespace pcplay::ui {

void load_font(float scale, float pixel_ratio) {
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  ImFontConfig config;
  config.FontDataOwnedByAtlas = false;  // the bytes are static
  io.Fonts->AddFontFromMemoryTTF(const_cast<unsigned char*>(dejavu_sans), static_cast<int>(dejavu_sans_size),
                                 14.0f * scale * pixel_ratio, &config);
  io.FontGlobalScale = 1.0f / pixel_ratio;
}

void apply_theme(float scale, float pixel_ratio) {
  ImGui::StyleColorsLight();
  ImGuiStyle& style = ImGui::GetStyle();
  style.WindowRounding = 0;
  style.ChildRounding = 4;
  style.FrameRounding = 3;
  style.GrabRounding = 3;
  style.FramePadding = ImVec2(6, 3);
  style.ItemSpacing = ImVec2(8, 5);
  style.Colors[ImGuiCol_WindowBg] = ImVec4(0.97f, 0.97f, 0.96f, 1);
  style.Colors[ImGuiCol_ChildBg] = ImVec4(1, 1, 1, 1);
  style.ScaleAllSizes(scale);
  load_font(scale, pixel_ratio);
}

}  // namespace pcplay::ui
