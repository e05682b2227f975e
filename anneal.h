#pragma once
// The whole C++ API of anneal in one include.
#include "core/autograd/engine.h"
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/tensor.h"
#include "kernels/backend.h"
#include "kernels/cpu/parallel.h"
#include "ops/ops.h"
