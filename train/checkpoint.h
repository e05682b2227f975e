#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped: model
// parameters and buffers, optimizer and schedule state, the default RNG's state, the step,
// epoch and data-loader position, and the run's config. Stored in the protobuf schema of
// proto/checkpoint.proto behind a header with a CRC-32; writes are atomic (temporary
// file, fsync, rename) and a truncated or corrupted file is a ValueError, never a crash or
// a silently wrong model.
#include <map>
#include <string>

#include "nn/module.h"
#include "optim/optimizer.h"

namespace anneal::train {

struct Checkpoint {
  nn::StateDict model;
  std::string optimizer_type;
  optim::OptimizerState optimizer;
  std::map<std::string, double> scheduler;
  uint64_t rng_seed = 0, rng_offset = 0;
  int64_t step = 0, epoch = 0, batch_in_epoch = 0;
  std::string config;
  std::map<std::string, std::string> metadata;
  std::map<std::string, double> extra;
  std::map<std::string, double> grad_scaler;  // optim::GradScaler::state_dict(), when one is used
};

// False when anneal was built without protobuf (save/load then throw).
bool checkpoints_available();
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
Checkpoint load_checkpoint(const std::string& path);

// Fills model, optimizer (when given) and RNG state from live objects.
Checkpoint capture(const nn::Module& model, const optim::Optimizer* optimizer = nullptr);
// Loads model, optimizer (when given; its type must match) and the RNG state. The
// optimizer's parameters must be the model's, in the same order as when captured.
void restore(const Checkpoint& ckpt, nn::Module& model, optim::Optimizer* optimizer = nullptr);

}  // namespace anneal::train
