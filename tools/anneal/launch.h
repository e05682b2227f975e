#pragma once
// `anneal launch`: starts the ranks of one node as child processes with the variables
// torchrun sets (so PyTorch-style programs and anneal's init_process_group find each
// other), prefixes each line they print with its rank, forwards SIGINT/SIGTERM, and when a
// rank fails stops the others and either restarts the node's group (up to
// --max-restarts) or exits with the failing rank's status.
#include <string>
#include <vector>

namespace anneal::tools {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1, node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port on a single node, 29500 across nodes
  int max_restarts = 0;
  double monitor_interval = 0.1;  // seconds between checks of the children
  double stop_grace = 10;         // seconds a rank gets to exit after SIGTERM before SIGKILL
  bool prefix_output = true;
  std::vector<std::string> command;
};

// Runs the group to completion; returns the exit status for the launcher's own exit.
int launch(const LaunchOptions& options);

}  // namespace anneal::tools
