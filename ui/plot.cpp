#include "plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "axis.h"

namespace pcplay::ui::plot {

namespace {


}  // namespace

ImU32 color(int index, float alpha) {
  static const ImU32 palette[] = {IM_COL32(31, 119, 180, 255), IM_COL32(214, 39, 40, 255),  IM_COL32(44, 160, 44, 255),
                                  IM_COL32(255, 127, 14, 255), IM_COL32(148, 103, 189, 255), IM_COL32(140, 86, 75, 255),
                                  IM_COL32(227, 119, 194, 255), IM_COL32(127, 127, 127, 255), IM_COL32(188, 189, 34, 255),
                                  IM_COL32(23, 190, 207, 255)};
  ImU32 c = palette[((index % 10) + 10) % 10];
  return (c & 0x00ffffff) | (static_cast<ImU32>(alpha * 255) << 24);
}

ImU32 sequential(float t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0f, 0.0f, 1.0f);
  return IM_COL32(static_cast<int>(255 - 227 * t), static_cast<int>(255 - 180 * t), static_cast<int>(255 - 100 * t), 255);
}

ImU32 diverging(float t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0f, -1.0f, 1.0f);
  if (t < 0) return IM_COL32(255, static_cast<int>(255 + 90 * t), static_cast<int>(255 + 245 * t), 255);  // to orange
  return IM_COL32(static_cast<int>(255 - 220 * t), static_cast<int>(255 - 140 * t), 255, 255);        // to blue
}

void lines(const char* id, const Options& o, const std::vector<Series>& series, ImVec2 size) {
  ImGui::PushID(id);
  if (size.x <= 0) size.x = ImGui::GetContentRegionAvail().x;
  size = ImVec2(std::max(size.x, 40.0f), std::max(size.y, 40.0f));  // InvisibleButton needs a size
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton("plot", size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float font = ImGui::GetFontSize();
  const float left = p0.x + font * 3.6f, right = p0.x + size.x - font * 0.6f;
  const float top = p0.y + font * 1.6f, bottom = p0.y + size.y - font * 2.4f;
  const ImU32 ink = ImGui::GetColorU32(ImGuiCol_Text), faint = ImGui::GetColorU32(ImGuiCol_Border);

  // The title, centred, and cut at the plot's edges when the plot is narrow.
  dl->PushClipRect(p0, ImVec2(p0.x + size.x, p0.y + size.y), true);
  dl->AddText(ImVec2(p0.x + std::max(0.0f, (size.x - ImGui::CalcTextSize(o.title.c_str()).x) / 2), p0.y), ink,
              o.title.c_str());
  dl->PopClipRect();
  const Axis sx = fit_axis_to(series, true, o.log_x);
  const bool fixed_y = o.y_min < o.y_max && (!o.log_y || o.y_min > 0);
  const Axis sy = fixed_y ? Axis{o.y_min, o.y_max, o.log_y} : fit_axis_to(series, false, o.log_y);

  // A tick label every five characters' width across, every two lines' height up.
  const int x_intervals = std::clamp(static_cast<int>((right - left) / (font * 5)), 1, 6);
  const int y_intervals = std::clamp(static_cast<int>((bottom - top) / (font * 2)), 1, 6);
  for (double t : axis_ticks(sx.lo, sx.hi, sx.log_scale, x_intervals)) {
    const float x = static_cast<float>(sx.map(t, left, right));
    dl->AddLine(ImVec2(x, top), ImVec2(x, bottom), faint);
    const std::string s = tick_label(t);
    dl->AddText(ImVec2(x - ImGui::CalcTextSize(s.c_str()).x / 2, bottom + 2), ink, s.c_str());
  }
  for (double t : axis_ticks(sy.lo, sy.hi, sy.log_scale, y_intervals)) {
    const float y = static_cast<float>(sy.map(t, bottom, top));
    dl->AddLine(ImVec2(left, y), ImVec2(right, y), faint);
    const std::string s = tick_label(t);
    dl->AddText(ImVec2(left - ImGui::CalcTextSize(s.c_str()).x - 4, y - font / 2), ink, s.c_str());
  }
  dl->AddRect(ImVec2(left, top), ImVec2(right, bottom), ink);
  dl->AddText(ImVec2((left + right - ImGui::CalcTextSize(o.x_label.c_str()).x) / 2, bottom + font * 1.1f), ink,
              o.x_label.c_str());
  if (!o.y_label.empty()) dl->AddText(ImVec2(p0.x, top - font * 1.5f), ink, o.y_label.c_str());

  dl->PushClipRect(ImVec2(left, top), ImVec2(right + 1, bottom + 1), true);
  for (const Series& s : series) {
    const size_t count = std::min(s.x.size(), s.y.size());
    const size_t stride = std::max<size_t>(1, count / static_cast<size_t>(std::max(1.0f, (right - left) * 2)));
    bool pen = false;
    ImVec2 last;
    int segment = 0;
    for (size_t i = 0; i < count; i += stride) {
      if (!plottable(s.x[i], o.log_x) || !plottable(s.y[i], o.log_y)) {
        pen = false;
        continue;
      }
      const ImVec2 p(static_cast<float>(sx.map(s.x[i], left, right)), static_cast<float>(sy.map(s.y[i], bottom, top)));
      if (pen && (!s.dashed || (segment++ / 2) % 2 == 0)) dl->AddLine(last, p, s.color, 1.6f);
      last = p;
      pen = true;
    }
    if (count == 1 && plottable(s.x[0], o.log_x) && plottable(s.y[0], o.log_y))
      dl->AddCircleFilled(ImVec2(static_cast<float>(sx.map(s.x[0], left, right)), static_cast<float>(sy.map(s.y[0], bottom, top))), 2.5f, s.color);
  }
  dl->PopClipRect();

  // Legend, top right, inside the frame: a deep net's many layers end in
  // "+k more" where the rows run out (the hover read-out names them all).
  std::vector<const Series*> labelled;
  for (const Series& s : series)
    if (!s.label.empty() && o.legend) labelled.push_back(&s);
  const size_t rows = static_cast<size_t>(std::max(0.0f, (bottom - top - 4) / (font + 2)));
  const size_t drawn = labelled.size() <= rows ? labelled.size() : rows > 0 ? rows - 1 : 0;
  dl->PushClipRect(ImVec2(left, top), ImVec2(right + 1, bottom + 1), true);
  float ly = top + 4;
  auto legend_row = [&](const std::string& text, const ImU32* swatch) {
    const float w = ImGui::CalcTextSize(text.c_str()).x;
    dl->AddRectFilled(ImVec2(right - w - 30, ly - 1), ImVec2(right - 2, ly + font + 1), IM_COL32(255, 255, 255, 200));
    if (swatch) dl->AddLine(ImVec2(right - w - 26, ly + font / 2), ImVec2(right - w - 10, ly + font / 2), *swatch, 2.5f);
    dl->AddText(ImVec2(right - w - 6, ly), ink, text.c_str());
    ly += font + 2;
  };
  for (size_t k = 0; k < drawn; ++k) legend_row(labelled[k]->label, &labelled[k]->color);
  if (drawn < labelled.size() && rows > 0) legend_row("+" + std::to_string(labelled.size() - drawn) + " more", nullptr);
  dl->PopClipRect();

  // Hover read-out: a cursor line and each series' value nearest to it.
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  if (hovered && mouse.x >= left && mouse.x <= right && !series.empty()) {
    const double xv = sx.unmap(mouse.x, left, right);
    dl->AddLine(ImVec2(mouse.x, top), ImVec2(mouse.x, bottom), IM_COL32(0, 0, 0, 90));
    ImGui::BeginTooltip();
    ImGui::Text("%s = %s", o.x_label.c_str(), tick_label(xv).c_str());
    for (const Series& s : series) {
      const size_t count = std::min(s.x.size(), s.y.size());
      if (count == 0) continue;
      size_t best = 0;
      for (size_t i = 1; i < count; ++i)
        if (std::abs(s.x[i] - xv) < std::abs(s.x[best] - xv)) best = i;
      ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(s.color), "%s: %.5g", s.label.c_str(), s.y[best]);
    }
    ImGui::EndTooltip();
  }
  ImGui::PopID();
}

namespace {
HeatTextures* heat_textures = nullptr;
}  // namespace

void use_heat_textures(HeatTextures* textures) { heat_textures = textures; }
HeatTextures* current_heat_textures() { return heat_textures; }

ImTextureID HeatTextures::texture(ImGuiID id, int w, int h, std::vector<ImU32> pixels) {
  auto at = std::find_if(cache_.begin(), cache_.end(), [id](const auto& e) { return e.first == id; });
  if (at != cache_.end() && (at->second.w != w || at->second.h != h)) {
    destroy(at->second.texture);
    cache_.erase(at);
    at = cache_.end();
  }
  if (at == cache_.end()) {
    cache_.push_back({id, Entry{create(w, h), w, h, 0, {}}});
    at = cache_.end() - 1;
  }
  Entry& e = at->second;
  if (e.pixels != pixels) {
    upload(e.texture, w, h, pixels.data());
    e.pixels = std::move(pixels);  // kept to compare the next frame's with
  }
  e.frame = ImGui::GetFrameCount();
  return e.texture;
}

void HeatTextures::end_frame() {
  const int frame = ImGui::GetFrameCount();
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (it->second.frame == frame) {
      ++it;
    } else {
      destroy(it->second.texture);
      it = cache_.erase(it);
    }
  }
}

void HeatTextures::destroy_all() {
  for (auto& e : cache_) destroy(e.second.texture);
  cache_.clear();
}

int heatmap(const char* id, const float* values, int w, int h, float lo, float hi, ImVec2 size, ImU32 (*map)(float)) {
  ImGui::PushID(id);
  size = ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f));
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton("heat", size);
  int cell = -1;
  if (w > 0 && h > 0) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float span = hi > lo ? hi - lo : 1.0f;
    std::vector<ImU32> pixels(static_cast<size_t>(w) * h);
    for (size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = map(map == diverging ? 2 * (values[i] - lo) / span - 1 : (values[i] - lo) / span);
    const float cw = size.x / w, ch = size.y / h;
    if (heat_textures) {
      dl->AddImage(heat_textures->texture(ImGui::GetID("heat"), w, h, std::move(pixels)), p0,
                   ImVec2(p0.x + size.x, p0.y + size.y));
    } else {
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j)
          dl->AddRectFilled(ImVec2(p0.x + j * cw, p0.y + i * ch), ImVec2(p0.x + (j + 1) * cw + 0.5f, p0.y + (i + 1) * ch + 0.5f),
                            pixels[static_cast<size_t>(i) * w + j]);
    }
    if (ImGui::IsItemHovered()) {
      const ImVec2 m = ImGui::GetIO().MousePos;
      const int j = static_cast<int>((m.x - p0.x) / cw), i = static_cast<int>((m.y - p0.y) / ch);
      if (i >= 0 && i < h && j >= 0 && j < w) cell = i * w + j;
    }
  }
  ImGui::PopID();
  return cell;
}

}  // namespace pcplay::ui::plot
