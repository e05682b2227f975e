#pragma once
// Batch transforms for images [B, C, H, W], composable, for DataLoaderOptions::transform.
// Random ones draw from the Philox stream of the batch seed the loader passes, so the
// augmentation of every batch depends only on (loader seed, epoch, batch index).
#include <functional>
#include <vector>

#include "data/dataloader.h"

namespace anneal::data::transforms {

using Transform = std::function<Batch(Batch, uint64_t batch_seed)>;

// data.to(float32) * scale (e.g. 1/255 for uint8 pixels).
Transform to_float(double scale = 1.0 / 255.0);
// (data - mean[c]) / std[c] per channel; one value applies to every channel.
Transform normalize(std::vector<double> mean, std::vector<double> stdev);
// Pads each image by `padding` zeros on every side, then cuts a random size x size window.
Transform random_crop(int64_t size, int64_t padding = 0);
// Mirrors each image left-right with probability p.
Transform random_horizontal_flip(double p = 0.5);
// Applies the transforms in order (each with its own stream).
Transform compose(std::vector<Transform> transforms);

}  // namespace anneal::data::transforms
