#pragma once
// Held-out metrics of a classifier: what a Trainer's evaluator usually returns.
#include <map>
#include <string>

#include "data/dataloader.h"
#include "nn/module.h"
#include "runtime/device.h"

namespace anneal::train {

// {"test_accuracy": percent correct, "test_loss": mean cross-entropy} over one pass of
// `loader` (batches moved to `device`); call it in eval mode without grad (the Trainer's
// evaluator is).
std::map<std::string, double> evaluate_classifier(nn::Module& model, data::DataLoader& loader, Device device);

}  // namespace anneal::train
