// anneal-train RUN_DIR: the built-in trainer of `type: train` jobs, started by `anneal run`
// (directly or under `anneal launch` for data-parallel jobs) in the run's folder.
#include <cstdio>
#include <exception>

#include "jobs/builtin_train.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: anneal-train RUN_DIR (started by `anneal run` for type: train jobs)\n");
    return 2;
  }
  try {
    return anneal::jobs::run_builtin_training(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anneal-train: %s\n", e.what());
    return 1;
  }
}
