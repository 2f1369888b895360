// plot.cpp — the loss chart of plot.h: a tiny raster canvas, a 5x7 font, nice ticks, lines.
#include "io/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace nn::io {
namespace {

struct Color {
  uint8_t r, g, b;
};
constexpr Color kWhite{255, 255, 255};
constexpr Color kAxis{70, 70, 70};
constexpr Color kGrid{228, 228, 228};
constexpr Color kText{30, 30, 30};
// Eight colours that stay apart on white and for common colour blindness (matplotlib's tab10).
constexpr Color kPalette[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                              {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};

Color series_color(size_t i) { return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))]; }

// `amount` of c over white: the pale tint the raw values are drawn in.
Color tint(Color c, double amount) {
  auto mix = [&](uint8_t v) { return static_cast<uint8_t>(std::lround(255.0 + (v - 255.0) * amount)); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

// ------------------------------------------------------------------ canvas

struct Canvas {
  RgbImage image;

  Canvas(int width, int height) {
    image.width = width;
    image.height = height;
    image.pixels.assign(static_cast<size_t>(width) * height * 3, 255);
  }
  void set(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;  // clip
    uint8_t* p = &image.pixels[(static_cast<size_t>(y) * image.width + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  void fill_rect(int x0, int y0, int x1, int y1, Color c) {  // inclusive corners
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) set(x, y, c);
  }
  void outline_rect(int x0, int y0, int x1, int y1, Color c) {
    for (int x = x0; x <= x1; ++x) set(x, y0, c), set(x, y1, c);
    for (int y = y0; y <= y1; ++y) set(x0, y, c), set(x1, y, c);
  }
  // Bresenham's line, every step moving one pixel along the longer axis; `thick` adds the pixel
  // below, so a 2-pixel line reads well without anti-aliasing.
  void line(int x0, int y0, int x1, int y1, Color c, bool thick) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    while (true) {
      set(x0, y0, c);
      if (thick) set(x0, y0 + 1, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
};

// ------------------------------------------------------------------ 5x7 font

struct Glyph {
  char ch;
  const char* rows[7];  // '#' = ink, 5 columns each
};
// Drawn for this file. Lower case is drawn with the upper-case glyphs; anything else as '?'.
constexpr Glyph kFont[] = {
    {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
    {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
    {'D', {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."}},
    {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
    {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
    {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"}},
    {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'I', {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
    {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
    {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
    {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
    {'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
    {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
    {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
    {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
    {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
    {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
    {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
    {'-', {".....", ".....", ".....", ".###.", ".....", ".....", "....."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {'[', {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."}},
    {']', {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."}},
    {'%', {"##..#", "##..#", "...#.", "..#..", ".#...", "#..##", "#..##"}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
};
constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kGlyphAdvance = 6;

const Glyph& glyph_for(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const Glyph* unknown = nullptr;
  for (const Glyph& g : kFont) {
    if (g.ch == c) return g;
    if (g.ch == '?') unknown = &g;
  }
  return *unknown;
}

int text_width(const std::string& text, int scale) {
  return text.empty() ? 0 : static_cast<int>(text.size()) * kGlyphAdvance * scale - scale;
}

// (x, y) is the top-left corner of the first glyph.
void draw_text(Canvas& canvas, int x, int y, const std::string& text, Color color, int scale = 1) {
  for (char ch : text) {
    const Glyph& g = glyph_for(ch);
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col)
        if (g.rows[row][col] == '#')
          canvas.fill_rect(x + col * scale, y + row * scale, x + col * scale + scale - 1, y + row * scale + scale - 1,
                           color);
    x += kGlyphAdvance * scale;
  }
}

// ------------------------------------------------------------------ scales and ticks

// The "nice" step (1, 2 or 5 times a power of ten) that cuts `span` into about `pieces` parts.
double nice_step(double span, int pieces) {
  const double raw = span / pieces;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  const double nice = fraction < 1.5 ? 1.0 : fraction < 3.5 ? 2.0 : fraction < 7.5 ? 5.0 : 10.0;
  return nice * power;
}

// A tick label with just enough decimals for ticks `step` apart ("0.25", "1500", "1E-05").
std::string tick_label(double value, double step) {
  if (std::fabs(value) < step * 1e-6) value = 0.0;  // no "-0.000" from rounding
  char buf[32];
  const double magnitude = std::max(std::fabs(value), step);
  if (magnitude >= 1e6 || step < 1e-4) {
    std::snprintf(buf, sizeof(buf), "%.2g", value);
  } else {
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  }
  return buf;
}

// The y range to draw: all finite values, or their 0.5%..99.5% quantiles when there are many.
void value_range(const PlotSeries& series, double* lo, double* hi) {
  std::vector<double> finite;
  for (const auto& s : series)
    for (double v : s.second)
      if (std::isfinite(v)) finite.push_back(v);
  if (finite.empty()) {
    *lo = 0.0, *hi = 1.0;
    return;
  }
  constexpr size_t kRobustFrom = 100;
  size_t low_index = 0, high_index = finite.size() - 1;
  if (finite.size() >= kRobustFrom) {
    low_index = static_cast<size_t>(0.005 * (finite.size() - 1));
    high_index = static_cast<size_t>(std::ceil(0.995 * (finite.size() - 1)));
  }
  std::nth_element(finite.begin(), finite.begin() + low_index, finite.end());
  *lo = finite[low_index];
  std::nth_element(finite.begin(), finite.begin() + high_index, finite.end());
  *hi = finite[high_index];
  // Values near the double limit would make hi - lo infinite; no loss is that large anyway.
  constexpr double kLargest = 1e300;
  *lo = std::min(std::max(*lo, -kLargest), kLargest);
  *hi = std::min(std::max(*hi, -kLargest), kLargest);
  if (*hi - *lo < 1e-12 * std::max(1.0, std::fabs(*lo))) {  // a flat line: give it some room
    const double half = std::max(0.5, std::fabs(*lo) * 0.1);
    *lo -= half, *hi += half;
  } else {
    const double margin = 0.05 * (*hi - *lo);
    *lo -= margin, *hi += margin;
  }
}

// Trailing mean over the last `window` steps, counting finite values only (NaN where none are).
std::vector<double> moving_average(const std::vector<double>& values, size_t window) {
  std::vector<double> out(values.size(), std::nan(""));
  double sum = 0.0;
  size_t count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) sum += values[i], ++count;
    if (i >= window && std::isfinite(values[i - window])) sum -= values[i - window], --count;
    if (count > 0) out[i] = sum / count;
  }
  return out;
}

}  // namespace

RgbImage render_loss_plot(const PlotSeries& series, const std::string& title) {
  Canvas canvas(kLossPlotWidth, kLossPlotHeight);
  // The plot area, inclusive pixel bounds; the margins hold the title and the tick labels.
  const int left = 72, right = kLossPlotWidth - 16, top = 36, bottom = kLossPlotHeight - 36;

  double lo, hi;
  value_range(series, &lo, &hi);
  size_t steps = 0;
  for (const auto& s : series) steps = std::max(steps, s.second.size());
  const double last_step = steps > 1 ? static_cast<double>(steps - 1) : 1.0;

  auto to_x = [&](double step) { return left + static_cast<int>(std::lround(step / last_step * (right - left))); };
  auto to_y = [&](double v) {
    double t = (v - lo) / (hi - lo);
    t = t > 1.0 ? 1.0 : t >= 0.0 ? t : 0.0;  // outliers sit on the border (and a NaN, were one to come, at 0)
    return bottom - static_cast<int>(std::lround(t * (bottom - top)));
  };

  // Grid lines and y labels.
  // Ticks are counted, not accumulated: adding a tiny step to a huge value may not move it.
  constexpr int kMaxTicks = 20;
  const double y_step = nice_step(hi - lo, 5);
  const double first_y_tick = std::ceil(lo / y_step) * y_step;
  for (int k = 0; k < kMaxTicks && first_y_tick + k * y_step <= hi; ++k) {
    const double v = first_y_tick + k * y_step;
    const int y = to_y(v);
    canvas.line(left, y, right, y, kGrid, false);
    canvas.line(left - 4, y, left, y, kAxis, false);
    const std::string label = tick_label(v, y_step);
    draw_text(canvas, left - 7 - text_width(label, 1), y - kGlyphHeight / 2, label, kText);
  }
  // x ticks at whole steps.
  const double x_step = std::max(1.0, std::round(nice_step(last_step, 6)));
  for (int k = 0; k < kMaxTicks && k * x_step <= last_step; ++k) {
    const double s = k * x_step;
    const int x = to_x(s);
    canvas.line(x, bottom, x, bottom + 4, kAxis, false);
    const std::string label = tick_label(s, 1.0);
    draw_text(canvas, x - text_width(label, 1) / 2, bottom + 8, label, kText);
  }
  draw_text(canvas, right - text_width("STEP", 1), bottom + 20, "STEP", kText);
  if (!title.empty()) draw_text(canvas, (kLossPlotWidth - text_width(title, 2)) / 2, 10, title, kText, 2);

  // The curves: consecutive finite points joined, a gap wherever a value is not finite.
  auto draw_curve = [&](const std::vector<double>& values, Color color, bool thick) {
    bool have_previous = false;
    int px = 0, py = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        have_previous = false;
        continue;
      }
      const int x = to_x(static_cast<double>(i)), y = to_y(values[i]);
      if (have_previous) {
        canvas.line(px, py, x, y, color, thick);
      } else {
        canvas.set(x, y, color);
      }
      px = x, py = y, have_previous = true;
    }
  };
  constexpr size_t kSmoothFrom = 100, kSmoothPieces = 50;
  for (size_t i = 0; i < series.size(); ++i) {
    const std::vector<double>& values = series[i].second;
    if (values.size() > kSmoothFrom) {
      draw_curve(values, tint(series_color(i), 0.3), false);
      draw_curve(moving_average(values, values.size() / kSmoothPieces), series_color(i), true);
    } else {
      draw_curve(values, series_color(i), true);
    }
  }
  // The thick lines may spill one pixel below the plot; the box is drawn last, over them.
  canvas.fill_rect(left, bottom + 1, right, bottom + 1, kWhite);
  canvas.outline_rect(left, top, right, bottom, kAxis);

  // Legend: a swatch and the name of each series, in a framed box at the top right.
  if (!series.empty()) {
    std::vector<std::string> names;
    int widest = 0;
    for (size_t i = 0; i < series.size(); ++i) {
      names.push_back(series[i].first.empty() ? "SERIES " + std::to_string(i) : series[i].first);
      widest = std::max(widest, text_width(names.back(), 1));
    }
    const int line_height = 12, swatch = 14;
    const int box_right = right - 8, box_left = box_right - (swatch + 6 + widest + 12);
    const int box_top = top + 8, box_bottom = box_top + 6 + line_height * static_cast<int>(names.size());
    canvas.fill_rect(box_left, box_top, box_right, box_bottom, kWhite);
    canvas.outline_rect(box_left, box_top, box_right, box_bottom, kAxis);
    for (size_t i = 0; i < names.size(); ++i) {
      const int y = box_top + 5 + line_height * static_cast<int>(i);
      canvas.fill_rect(box_left + 6, y + 1, box_left + 6 + swatch - 1, y + kGlyphHeight - 2, series_color(i));
      draw_text(canvas, box_left + 6 + swatch + 6, y, names[i], kText);
    }
  }
  return std::move(canvas.image);
}

void write_loss_plot_png(const std::string& path, const PlotSeries& series, const std::string& title) {
  const RgbImage chart = render_loss_plot(series, title);
  write_png_rgb(path, chart.width, chart.height, chart.pixels);
}

}  // namespace nn::io
