#pragma once
#include <functional>

#include "core/tensor.h"

namespace anneal::autograd {

// Runs backward from `outputs` (seeded with `grad_outputs`; an undefined seed means
// ones, allowed only for one-element outputs) and accumulates into the .grad of leaves.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {}, bool retain_graph = false,
              bool create_graph = false);

// Returns d(outputs)/d(inputs) without touching any .grad. With allow_unused, inputs
// not reached get an undefined tensor; otherwise that is an error.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                std::optional<bool> retain_graph = {}, bool create_graph = false, bool allow_unused = false);

// Runs `fn` once the backward now running has finished (after its last AccumulateGrad),
// before backward() returns; an exception it throws comes out of backward(). Only valid
// while a backward runs (from a hook): DistributedDataParallel waits for its gradient
// all-reduces here. Callbacks run in the order queued.
void queue_callback(std::function<void()> fn);

// Clears the .grad of each tensor (set_to_none) or zeroes it in place.
void zero_grads(const TensorList& tensors, bool set_to_none = true);

}  // namespace anneal::autograd
