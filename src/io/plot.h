// plot.h — a loss curve as a PNG, drawn pixel by pixel (no plotting library).
//
// The chart is kLossPlotWidth x kLossPlotHeight pixels: white background, a grey box around the
// plot area, light horizontal grid lines at "nice" y values (1, 2 or 5 times a power of ten) with
// their labels, a few x ticks labelled with the step index, the title on top, and a legend of
// coloured swatches with the series' names in the top-right corner. Text uses a 5x7 bitmap font
// of upper-case letters, digits and a little punctuation (lower case is drawn as upper case).
//
// Each series is one value per step, drawn at x = its index. Series with more than 100 values are
// drawn twice: the raw values in a pale tint of the series' colour, and a trailing moving average
// over n / 50 steps in the full colour, because per-step GAN losses are too noisy to read. NaN
// and infinite values are skipped (the line breaks there; the average ignores them).
//
// The y range spans the finite values; with 100 or more of them it spans the 0.5%..99.5%
// quantiles instead, so that a few early spikes do not flatten the rest of the curve (TensorBoard's
// "ignore outliers" does the same); values outside are drawn on the border. Empty series, or no
// series at all, still give a valid chart with axes and no lines.
//
// Covered by tests/test_io.cpp (Plot.*).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "io/png.h"

namespace nn::io {

constexpr int kLossPlotWidth = 800;
constexpr int kLossPlotHeight = 480;

using PlotSeries = std::vector<std::pair<std::string, std::vector<double>>>;

// The chart's pixels (what write_loss_plot_png writes).
RgbImage render_loss_plot(const PlotSeries& series, const std::string& title = "");

// Renders and writes the chart atomically; errors as write_png_rgb ("cannot write image <path>").
void write_loss_plot_png(const std::string& path, const PlotSeries& series, const std::string& title = "");

}  // namespace nn::io
