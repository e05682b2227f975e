#pragma once
// Collectives over many tensors at once (a module's parameters and buffers): packed into
// one flat tensor per dtype so that a model costs a few operations, not one per tensor.
#include <string>
#include <vector>

#include "core/tensor.h"
#include "distributed/process_group.h"

namespace anneal::distributed {

// Every rank ends with root's values of `tensors` (written in place).
void broadcast_coalesced(ProcessGroup& group, TensorList& tensors, int root = 0);
// Checks that every rank has the same parameters (names, dtypes, shapes, in order);
// otherwise throws ValueError naming the first parameter that differs and the ranks.
void verify_same_parameters(ProcessGroup& group, const TensorList& params, const std::vector<std::string>& names);

}  // namespace anneal::distributed
