// Plots on ImGui draw lists (ImPlot cannot be installed here): line series
// with axes, ticks, linear or log scales, a legend and a hover read-out; heat
// maps. The tick logic is the core's (axis_ticks), shared with the SVG export.
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace pcplay::ui::plot {

struct Series {
  std::string label;
  std::vector<float> x, y;
  ImU32 color;
  bool dashed = false;
};

struct Options {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  float y_min = 0, y_max = 0;  // a fixed y range when y_min < y_max
  bool legend = true;          // small multiples show it once
};

// The palette, by index (tab10), and two colour maps.
ImU32 color(int index, float alpha = 1.0f);
ImU32 sequential(float t);  // t in [0, 1]: white to dark blue
ImU32 diverging(float t);   // t in [-1, 1]: orange, white, blue (TensorFlow Playground's)

// Heat maps as textures: one quad each where a rectangle per cell costs a
// software renderer (llvmpipe, SwiftShader) dearly: a race's MNIST views are
// 60,000 vertices drawn as cells. The front end's renderer makes the
// textures; without one (the tests) the cells are drawn.
class HeatTextures {
 public:
  virtual ~HeatTextures() = default;
  // The texture showing `pixels` (w×h, row-major, IM_COL32) for the heat map
  // `id`: made on first use, uploaded again only when the pixels change.
  ImTextureID texture(ImGuiID id, int w, int h, std::vector<ImU32> pixels);
  // After a frame is rendered: frees the textures of heat maps it did not draw.
  void end_frame();
  size_t size() const { return cache_.size(); }

 protected:
  virtual ImTextureID create(int w, int h) = 0;
  virtual void upload(ImTextureID texture, int w, int h, const ImU32* pixels) = 0;
  virtual void destroy(ImTextureID texture) = 0;
  void destroy_all();  // a subclass's destructor calls it while its context lives

 private:
  struct Entry {
    ImTextureID texture;
    int w, h, frame;
    std::vector<ImU32> pixels;
  };
  std::vector<std::pair<ImGuiID, Entry>> cache_;  // a few dozen: a list is enough
};
// The textures heat maps use (null: cells), like ImGui's current context.
void use_heat_textures(HeatTextures* textures);
HeatTextures* current_heat_textures();

// Line plot of `size` (width -1: all the space left).
void lines(const char* id, const Options& options, const std::vector<Series>& series, ImVec2 size);
// A w×h grid of values (row-major, row 0 on top) mapped by sequential() from
// [lo, hi]; returns the cell under the mouse, or -1.
int heatmap(const char* id, const float* values, int w, int h, float lo, float hi, ImVec2 size,
            ImU32 (*map)(float) = sequential);

}  // namespace pcplay::ui::plot
