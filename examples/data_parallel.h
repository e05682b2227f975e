#pragma once
// Data parallelism for the examples: started by `anneal launch --nproc-per-node N`, mpirun
// or srun (WORLD_SIZE > 1), an example joins the process group, trains a
// DistributedDataParallel copy of its model on its share of every global batch and prints
// only on rank 0. Started directly, it runs as one process, unchanged.
#include <cstdlib>
#include <memory>

#include "anneal.h"

namespace examples {

struct DataParallel {
  bool on = false;
  int rank = 0, world = 1, local_rank = 0;
  bool is_rank0() const { return rank == 0; }
};

inline bool launched_with_ranks() {
  for (const char* v : {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"}) {
    const char* s = std::getenv(v);
    if (s && std::atoi(s) > 1) return true;
  }
  return false;
}

inline DataParallel start_data_parallel() {
  DataParallel dp;
  if (!launched_with_ranks()) return dp;
  namespace dist = anneal::distributed;
  dist::init_process_group();
  dp.on = true;
  dp.rank = dist::get_rank();
  dp.world = dist::get_world_size();
  dp.local_rank = dist::bootstrap_info().local_rank;
  return dp;
}

// The per-rank batch of a global batch (which must divide evenly, so that N ranks train
// exactly as one process on the global batch would).
inline int64_t per_rank_batch(int64_t global_batch, const DataParallel& dp) {
  ANNEAL_CHECK(global_batch % dp.world == 0, ValueError, "--batch ", global_batch,
               " does not divide among ", dp.world, " ranks: pick a multiple of the world size");
  return global_batch / dp.world;
}

inline std::shared_ptr<anneal::nn::Module> wrap(std::shared_ptr<anneal::nn::Module> model, const DataParallel& dp) {
  if (!dp.on) return model;
  return std::make_shared<anneal::distributed::DistributedDataParallel>(std::move(model));
}

}  // namespace examples
