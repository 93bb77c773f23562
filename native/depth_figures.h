// pcplay reproduce's figures after Torch2PC: why predictive coding fails on
// deep networks and what fixes it, in numbers (docs/algorithms.md, the
// README's results). Each writes STEM.csv and STEM.svg and returns its
// summary line.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "collective.h"

namespace pcplay::cli {

struct FigureRun {
  std::string data_dir;
  bool quick = false;  // a few steps and small nets, for tests
  uint64_t seed = 1;
  int threads = 0;
  // Under mpirun: the training runs share their batches among the ranks;
  // the other figures are computed by every rank. Rank 0 writes and prints.
  Collective* collective = nullptr;
};

// A figure's file, written atomically by the process that writes (leads()).
void write_figure_file(const FigureRun& run, const std::string& path, const std::string& text);

// Signal decay: on one MNIST batch, the relative error and angle of layer
// 1's update against backprop for dense tanh nets of width 64 and depth 2 to
// 32, for Strict, FixedPred, ePC and iPC at η = 0.1, n = 20 (float64).
nlohmann::json signal_decay_figure(const FigureRun& run, const std::string& stem);

// Depth: MNIST test accuracy after a fixed budget of steps (250 of 64) for
// residual MLPs of width 128 and depth 8 to 128, trained with backprop,
// and with Strict and ePC in the standard parameterisation and in μPC's.
nlohmann::json depth_figure(const FigureRun& run, const std::string& stem);

// Spiral: the deep spiral net (mlp-2d-deep, 4,000 steps) for every
// algorithm at the defaults, and Strict and ePC at the small η·n they need.
nlohmann::json spiral_figure(const FigureRun& run, const std::string& stem);

}  // namespace pcplay::cli
