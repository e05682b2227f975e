// A separate process for the checkpoint fault tests (run under the fault shim or killed
// with SIGKILL by tests/train/checkpoint_fault_test.cpp).
//   checkpoint_child save PATH SEED   save a checkpoint of Linear(512, 600) made with SEED
//                                     (over 1 MiB: the data goes out in several writes):
//                                     exit 0 when saved, 3 when the save raised an error
//   checkpoint_child loop PATH        save seeds 1, 2, 1, 2, ... to PATH until killed
#include <cstdio>
#include <cstdlib>
#include <string>

#include "anneal.h"

using namespace anneal;

static void save(const std::string& path, uint64_t seed) {
  manual_seed(seed);
  nn::Linear model(512, 600);
  optim::Adam opt(model.parameters());
  model(randn({2, 512})).sum().backward();
  opt.step();
  train::Checkpoint c = train::capture(model, &opt);
  c.step = int64_t(seed);
  train::save_checkpoint(path, c);
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string mode = argv[1], path = argv[2];
  try {
    if (mode == "save") {
      save(path, std::strtoull(argv[3], nullptr, 10));
      return 0;
    }
    if (mode == "loop") {
      std::printf("ready\n");
      std::fflush(stdout);
      for (uint64_t i = 0;; ++i) save(path, 1 + i % 2);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_child: %s\n", e.what());
    return 3;
  }
  return 2;
}
