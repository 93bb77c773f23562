// What the playground shows of a model's outputs, made on the run's thread
// for its snapshots: the decision boundary of 2-D data, and for image data
// sample predictions, a confusion matrix and per-layer maps of one image's
// prediction errors beside backprop's gradients.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "datasets.h"
#include "model.h"
#include "pc_infer.h"

namespace pcplay::ui {

// An image-shaped map for the |eps| and gradient views: one per layer.
struct LayerMap {
  std::string title;
  int width = 0, height = 0;
  std::vector<float> values;  // empty where the error type leaves eps undefined
};

// The views of image data: sample test images with predictions, a confusion
// matrix, and per-layer maps for the chosen image.
struct ImageViews {
  int width = 0, height = 0, classes = 0;
  std::vector<float> images;  // the first channel of each sample image
  std::vector<int> labels, predictions;
  std::vector<int> confusion;  // classes × classes, rows = true label (empty for many classes)
  int chosen = 0;
  std::vector<LayerMap> eps_maps, grad_maps;
};

// 2-D data: the model's P(class 1) on a grid × grid raster over
// [-extent, extent]², row-major from the top left.
constexpr int kBoundaryGrid = 64;
std::vector<float> decision_boundary(const Model<float>& model, int grid, float extent);

// At most `most` of a 2-D data set's points as x, y, label triples (evenly spaced).
std::shared_ptr<const std::vector<float>> point_sample(const Dataset& d, size_t most);

// The confusion matrix, counted a chunk of test images per call (a call must
// fit in a single-threaded browser build's slice of a frame): `counts` is the
// last whole count, `partial` the one under way up to image `next`.
struct ConfusionCache {
  std::vector<int> counts, partial;
  Index next = 0;
};

// Image data: the first test images with their predictions, the confusion
// matrix over the first test images, and for test image `chosen` the |eps|
// maps of this error type (η, n) and backprop's gradient maps, computed on a
// copy of the model (pc_infer writes gradients; the training model's belong
// to the step under way).
std::shared_ptr<const ImageViews> image_views(const Model<float>& model, const Dataset& test, int chosen, ErrType err,
                                              float eta, int n, ConfusionCache& confusion);

}  // namespace pcplay::ui
