// The `anneal` command line. Subcommands: launch (data-parallel ranks on this node).
#include <CLI/CLI.hpp>

#include <iostream>

#include "tools/anneal/launch.h"

int main(int argc, char** argv) {
  CLI::App app{"anneal: train, launch and track deep-learning runs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ANNEAL_VERSION));

  anneal::tools::LaunchOptions lo;
  auto* launch = app.add_subcommand("launch", "Start N ranks of a program on this node (torchrun's variables)");
  launch->add_option("--nproc-per-node,--nproc_per_node", lo.nproc_per_node, "Ranks on this node")
      ->check(CLI::Range(1, 1024));
  launch->add_option("--nnodes", lo.nnodes, "Nodes in the job")->check(CLI::Range(1, 100000));
  launch->add_option("--node-rank,--node_rank", lo.node_rank, "This node's index (0 hosts the store)")
      ->check(CLI::NonNegativeNumber);
  launch->add_option("--master-addr,--master_addr", lo.master_addr, "Address of node 0");
  launch->add_option("--master-port,--master_port", lo.master_port,
                     "Port of node 0's store (default: a free one on one node, 29500 across nodes)")
      ->check(CLI::Range(1, 65535));
  launch->add_option("--max-restarts,--max_restarts", lo.max_restarts, "Restarts of the group after a failure")
      ->check(CLI::Range(0, 1000000));
  launch->add_option("--monitor-interval,--monitor_interval", lo.monitor_interval, "Seconds between checks of the ranks")
      ->check(CLI::Range(0.001, 3600.0));
  launch->add_option("--stop-grace", lo.stop_grace, "Seconds a rank gets to exit after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0));
  bool no_prefix = false;
  launch->add_flag("--no-prefix", no_prefix, "Print the ranks' output without [rankN]: in front");
  launch->add_option("command", lo.command, "The program and its arguments (after --)")->required();
  launch->prefix_command(false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (launch->parsed()) {
    if (lo.node_rank >= lo.nnodes) {
      std::cerr << "anneal launch: --node-rank " << lo.node_rank << " is not below --nnodes " << lo.nnodes << std::endl;
      return 2;
    }
    lo.prefix_output = !no_prefix;
    return anneal::tools::launch(lo);
  }
  return 0;
}
