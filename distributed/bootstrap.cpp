#include "distributed/bootstrap.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace anneal::distributed {
namespace {

std::optional<long long> int_var(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  if (!v) return std::nullopt;
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(s.c_str(), &end, 10);
  ANNEAL_CHECK(!s.empty() && end && *end == '\0' && errno == 0 && x >= 0 && x <= 1000000, ValueError,
               "environment variable ", name, "='", s, "' is not a non-negative integer");
  return x;
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // hosts are separated by commas outside brackets; a bracket holds ranges and numbers
  std::string first;
  int depth = 0;
  for (char c : nodelist) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
    first.push_back(c);
  }
  auto open = first.find('[');
  if (open == std::string::npos) return first;
  auto close = first.find(']', open);
  ANNEAL_CHECK(close != std::string::npos, ValueError, "SLURM_JOB_NODELIST='", nodelist, "' has an unclosed '['");
  std::string inside = first.substr(open + 1, close - open - 1);
  std::string item = inside.substr(0, inside.find(','));
  item = item.substr(0, item.find('-'));  // the range's start keeps its leading zeros
  return first.substr(0, open) + item + first.substr(close + 1);
}

Bootstrap read_bootstrap(const std::function<const char*(const char*)>& getenv) {
  Bootstrap b;
  auto rank = int_var(getenv, "RANK");
  auto world = int_var(getenv, "WORLD_SIZE");
  auto ompi_rank = int_var(getenv, "OMPI_COMM_WORLD_RANK");
  auto ompi_size = int_var(getenv, "OMPI_COMM_WORLD_SIZE");
  auto slurm_rank = int_var(getenv, "SLURM_PROCID");
  auto slurm_size = int_var(getenv, "SLURM_NTASKS");
  auto local_rank = int_var(getenv, "LOCAL_RANK");
  auto local_world = int_var(getenv, "LOCAL_WORLD_SIZE");

  if (rank || world) {
    ANNEAL_CHECK(rank && world, ValueError, rank ? "WORLD_SIZE" : "RANK", " is not set (",
                 rank ? "RANK" : "WORLD_SIZE", " is): a launcher sets both");
    b.source = "torchrun";
    b.rank = static_cast<int>(*rank);
    b.world_size = static_cast<int>(*world);
  } else if (ompi_rank || ompi_size) {
    ANNEAL_CHECK(ompi_rank && ompi_size, ValueError, "OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE must both be set");
    b.source = "mpi";
    b.rank = static_cast<int>(*ompi_rank);
    b.world_size = static_cast<int>(*ompi_size);
    if (!local_rank) local_rank = int_var(getenv, "OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local_world) local_world = int_var(getenv, "OMPI_COMM_WORLD_LOCAL_SIZE");
  } else if (slurm_rank || slurm_size) {
    ANNEAL_CHECK(slurm_rank && slurm_size, ValueError, "SLURM_PROCID and SLURM_NTASKS must both be set");
    b.source = "slurm";
    b.rank = static_cast<int>(*slurm_rank);
    b.world_size = static_cast<int>(*slurm_size);
    if (!local_rank) local_rank = int_var(getenv, "SLURM_LOCALID");
    if (!local_world) local_world = int_var(getenv, "SLURM_NTASKS_PER_NODE");
  } else {
    ANNEAL_CHECK(false, ValueError,
                 "no launcher variables found: set RANK and WORLD_SIZE (and MASTER_ADDR, MASTER_PORT), or start the "
                 "program with `anneal launch`, mpirun or srun");
  }
  ANNEAL_CHECK(b.world_size >= 1, ValueError, "WORLD_SIZE must be at least 1 (got ", b.world_size, ")");
  ANNEAL_CHECK(b.rank < b.world_size, ValueError, "RANK=", b.rank, " is not below WORLD_SIZE=", b.world_size);
  // Two launchers' variables that disagree (a torchrun variable left over inside an
  // mpirun job, say) would make ranks meet the wrong peers: refuse.
  if (b.source == "torchrun") {
    if (ompi_rank && ompi_size && (*ompi_rank != b.rank || *ompi_size != b.world_size))
      ANNEAL_CHECK(false, ValueError, "RANK/WORLD_SIZE (", b.rank, "/", b.world_size,
                   ") contradict OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE (", *ompi_rank, "/", *ompi_size, ")");
    if (slurm_rank && slurm_size && *slurm_size > 1 && (*slurm_rank != b.rank || *slurm_size != b.world_size))
      ANNEAL_CHECK(false, ValueError, "RANK/WORLD_SIZE (", b.rank, "/", b.world_size,
                   ") contradict SLURM_PROCID/SLURM_NTASKS (", *slurm_rank, "/", *slurm_size, ")");
  }
  b.local_rank = local_rank ? static_cast<int>(*local_rank) : b.rank;
  b.local_world_size = local_world ? static_cast<int>(*local_world) : b.world_size;
  ANNEAL_CHECK(b.local_world_size >= 1 && b.local_world_size <= b.world_size, ValueError, "LOCAL_WORLD_SIZE=",
               b.local_world_size, " must be between 1 and WORLD_SIZE=", b.world_size);
  ANNEAL_CHECK(b.local_rank < b.local_world_size, ValueError, "LOCAL_RANK=", b.local_rank,
               " is not below LOCAL_WORLD_SIZE=", b.local_world_size);

  if (const char* a = getenv("MASTER_ADDR")) {
    b.master_addr = a;
    ANNEAL_CHECK(!b.master_addr.empty(), ValueError, "MASTER_ADDR is set but empty");
  } else if (b.source == "slurm") {
    if (const char* nodes = getenv("SLURM_JOB_NODELIST")) b.master_addr = first_slurm_host(nodes);
    else if (const char* nodes2 = getenv("SLURM_NODELIST")) b.master_addr = first_slurm_host(nodes2);
  }
  if (auto port = int_var(getenv, "MASTER_PORT")) {
    ANNEAL_CHECK(*port >= 1 && *port <= 65535, ValueError, "MASTER_PORT=", *port, " is not a port (1..65535)");
    b.master_port = static_cast<int>(*port);
  }
  return b;
}

Bootstrap read_bootstrap() {
  return read_bootstrap([](const char* n) -> const char* { return std::getenv(n); });
}

}  // namespace anneal::distributed
