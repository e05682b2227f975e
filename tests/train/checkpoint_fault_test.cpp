// Checkpoint saves that fail (write, fsync, close or rename refused by an LD_PRELOAD shim)
// or are killed with SIGKILL midway: the previous checkpoint always survives intact and
// loads. Also what a loaded checkpoint is checked for before it touches the model.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>

#include "anneal.h"
#include "core/directories.h"

using namespace anneal;

namespace {

// A fresh directory per process (mkdtemp, removed at exit): a name made from the pid alone
// can be one an earlier, killed test run left behind once pids wrap around.
std::string dir() {
  // leaked on purpose: the atexit hook below runs after static destructors would have run
  static const std::string* d = [] {
    std::string templ = ::testing::TempDir() + "anneal_fault_XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + templ);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir(), ec);
    });
    return new std::string(templ);
  }();
  return *d;
}
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
int run_child(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + ANNEAL_CHECKPOINT_CHILD + " " + args + " 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
// The shim is not ASan-instrumented: let an instrumented child accept it first in line.
const std::string kPreload = std::string("ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 LD_PRELOAD=") +
                             ANNEAL_FAULT_SHIM;

TEST(CheckpointFaults, AFailedSaveNeverReplacesTheLastGoodCheckpoint) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  const std::string path = dir() + "/run.ckpt";
  ASSERT_EQ(run_child("", "save " + path + " 1"), 0);
  const std::string good = slurp(path);
  ASSERT_EQ(train::load_checkpoint(path).step, 1);
  for (const char* fault : {"write:1", "write:2", "fsync:1", "close:1", "rename:1"}) {
    SCOPED_TRACE(fault);
    // the save reports the failure ...
    EXPECT_EQ(run_child(kPreload + " ANNEAL_FAULT=" + fault, "save " + path + " 2"), 3);
    // ... and the old checkpoint is there, byte for byte, and loads; no temporary is left
    EXPECT_EQ(slurp(path), good);
    EXPECT_EQ(train::load_checkpoint(path).step, 1);
    for (auto& e : std::filesystem::directory_iterator(dir()))
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
  // the shim is what made those fail: without a fault the same save succeeds
  EXPECT_EQ(run_child(kPreload, "save " + path + " 2"), 0);
  EXPECT_EQ(train::load_checkpoint(path).step, 2);
}

TEST(CheckpointFaults, KillNineMidSaveLeavesALoadableCheckpoint) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  const std::string path = dir() + "/killed.ckpt";
  ASSERT_EQ(run_child("", "save " + path + " 1"), 0);
  std::mt19937 rng(7);
  for (int round = 0; round < 12; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl(ANNEAL_CHECKPOINT_CHILD, ANNEAL_CHECKPOINT_CHILD, "loop", path.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 200));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving process ended before it was killed";
    // whatever moment it died at, the file is one whole checkpoint (seed 1 or seed 2)
    train::Checkpoint c = train::load_checkpoint(path);
    EXPECT_TRUE(c.step == 1 || c.step == 2) << c.step;
    EXPECT_EQ(c.model.size(), 2u);
  }
}

// A checkpoint whose optimizer state cannot be resumed is refused before the model changes.
TEST(CheckpointValidation, IncompleteOrOutOfRangeOptimizerStateIsRefusedUpFront) {
  manual_seed(3);
  nn::Linear model(3, 2);
  optim::Adam adam(model.parameters());
  model(randn({4, 3})).sum().backward();
  adam.step();
  const train::Checkpoint good = train::capture(model, &adam);
  auto refused = [&](train::Checkpoint c, const std::string& fragment) {
    nn::Linear target(3, 2);
    optim::Adam opt(target.parameters());
    const Tensor before = target.weight.clone();
    try {
      train::restore(c, target, &opt);
      ADD_FAILURE() << "expected an error mentioning " << fragment;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
    EXPECT_TRUE(equal(target.weight, before)) << "the model changed although the checkpoint was refused";
  };
  train::Checkpoint c = good;
  c.optimizer.state.begin()->second.erase("exp_avg_sq");
  refused(c, "lacks 'exp_avg_sq'");
  c = good;
  c.optimizer.groups[0]["beta1"] = 2;
  refused(c, "invalid beta parameter at index 0: 2");
  c = good;
  c.optimizer.groups[0]["lr"] = std::nan("");
  refused(c, "must be a finite number");
  c = good;
  c.optimizer.groups[0]["momentum"] = 0.9;
  refused(c, "unknown option 'momentum'");
  c = good;
  c.optimizer.state.begin()->second["step"] = full({}, -1.0, DType::Float64);
  refused(c, "non-negative whole number");
  c = good;
  c.optimizer.state[7] = good.optimizer.state.begin()->second;
  refused(c, "names parameter 7");
  c = good;
  c.optimizer.state.begin()->second["exp_avg"] = zeros({5});
  refused(c, "has shape [5]");
  // and the good one restores and steps
  nn::Linear target(3, 2);
  optim::Adam opt(target.parameters());
  train::restore(good, target, &opt);
  EXPECT_TRUE(equal(target.weight, model.weight));
  target(randn({4, 3})).sum().backward();
  opt.step();
}

TEST(CheckpointValidation, SchedulerAndScalerStateAreChecked) {
  nn::Linear model(2, 2);
  optim::SGD sgd(model.parameters(), 0.1);
  optim::StepLR sched(sgd, 10);
  auto state = sched.state_dict();
  state["last_step"] = -3;
  EXPECT_THROW(sched.load_state_dict(state), ValueError);
  state = sched.state_dict();
  state["base_lr.0"] = std::nan("");
  EXPECT_THROW(sched.load_state_dict(state), ValueError);
  state = sched.state_dict();
  state.erase("base_lr.0");
  EXPECT_THROW(sched.load_state_dict(state), ValueError);
  EXPECT_NO_THROW(sched.load_state_dict(sched.state_dict()));
  optim::GradScaler scaler;
  auto s = scaler.state_dict();
  s["backoff_factor"] = 1.5;
  EXPECT_THROW(scaler.load_state_dict(s), ValueError);
  s = scaler.state_dict();
  s["growth_interval"] = 0.5;
  EXPECT_THROW(scaler.load_state_dict(s), ValueError);
}

TEST(CheckpointValidation, ADirectoryOrAnUncreatableRunFolderIsAClearError) {
  try {
    train::load_checkpoint(dir());
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train::save_checkpoint(dir(), train::Checkpoint{}), ValueError);
  std::ofstream(dir() + "/afile") << "x";
  EXPECT_THROW(make_directories(dir() + "/afile/run", "test"), ValueError);
}

}  // namespace

namespace {

TEST(CheckpointValidation, ASaveThatCouldNotBeLoadedBackIsRefused) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  nn::Linear m(2, 2);
  train::Checkpoint c = train::capture(m);
  c.metadata["note"] = "caf\xc3\xa9";  // valid UTF-8 is kept
  train::save_checkpoint(dir() + "/utf8.ckpt", c);
  EXPECT_EQ(train::load_checkpoint(dir() + "/utf8.ckpt").metadata.at("note"), "caf\xc3\xa9");
  c.config = "lr: \xff";
  try {
    train::save_checkpoint(dir() + "/utf8.ckpt", c);
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(train::load_checkpoint(dir() + "/utf8.ckpt").metadata.at("note"), "caf\xc3\xa9");  // the old one stays
}

}  // namespace
