#pragma once
// Where this process sits in the job, read from the variables every common launcher
// sets: torchrun / `anneal launch` (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), Open MPI's mpirun (OMPI_COMM_WORLD_*) and SLURM's srun
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of SLURM_JOB_NODELIST).
#include <functional>
#include <optional>
#include <string>

namespace anneal::distributed {

struct Bootstrap {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;
  std::string master_addr;  // empty when no variable names one
  int master_port = 0;      // 0 when none
  std::string source;       // "torchrun", "mpi", "slurm": which variables were read
};

// Reads the variables (through `getenv`, replaceable for tests). A missing, malformed or
// contradictory variable throws ValueError naming it.
Bootstrap read_bootstrap(const std::function<const char*(const char*)>& getenv);
Bootstrap read_bootstrap();  // the process environment

// The first host of a SLURM node list: "node[03-05,9],gpu1" -> "node03".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace anneal::distributed
