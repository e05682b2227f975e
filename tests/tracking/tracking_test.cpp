// The logging API in one process: records reach the run folder and the registry, steps,
// keys, artifacts, and the end of a run this process started.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"
#include "tracking/tracking.h"

using namespace anneal;
namespace t = anneal::tracking;

namespace {

std::string temp_dir() {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("anneal-tracking-" + std::to_string(rd()));
  std::filesystem::create_directories(p);
  return p.string();
}

std::vector<nlohmann::json> lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string l;
  while (std::getline(f, l)) out.push_back(nlohmann::json::parse(l));
  return out;
}

}  // namespace

TEST(Tracking, LogsIntoTheFolderAndTheRegistry) {
  const std::string root = temp_dir();
  ::unsetenv("ANNEAL_RUN_ID");
  const std::string id = t::start_run({"exp", "first", root, "", {{"team", "core"}}});
  EXPECT_EQ(t::active_run_id().value_or(""), id);
  EXPECT_THROW(t::start_run({"exp", "", root}), ValueError);  // one at a time
  t::log_param("lr", "0.1");
  t::log_metric("loss", 1.0);    // automatic steps: 0, 1, 2
  t::log_metric("loss", 0.5);
  t::log_metric("loss", 0.25);
  t::log_metrics({{"acc", 0.9}, {"val_loss", 0.3}}, 10);
  t::log_metric("loss", 0.2);    // after an explicit step the key continues from it
  EXPECT_THROW(t::log_metric("step", 1.0), ValueError);
  EXPECT_THROW(t::log_metric("bad key!", 1.0), ValueError);
  EXPECT_THROW(t::log_metric("", 1.0), ValueError);
  const std::string art = root + "/notes.txt";
  std::ofstream(art) << "hello";
  const std::string copied = t::log_artifact(art, "docs");
  EXPECT_TRUE(std::filesystem::exists(copied));
  EXPECT_THROW(t::log_artifact(art, "../escape"), ValueError);
  EXPECT_THROW(t::log_artifact(root + "/missing"), ValueError);
  t::flush();
  const std::string dir = t::run_dir();
  EXPECT_EQ(dir, root + "/exp/" + id);
  auto recs = lines(dir + "/metrics.jsonl");
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0]["step"], 0);
  EXPECT_EQ(recs[2]["step"], 2);
  EXPECT_EQ(recs[2]["loss"], 0.25);
  EXPECT_EQ(recs[3]["step"], 10);
  EXPECT_EQ(recs[3]["acc"], 0.9);
  EXPECT_EQ(recs[4]["step"], 3);  // loss's own next step
  auto reg = t::Registry::open("sqlite:" + root + "/anneal.db");
  auto run = *reg->get_run(id);
  EXPECT_EQ(run.status, t::kRunning);
  EXPECT_EQ(run.name, "first");
  EXPECT_EQ(run.params.at("lr"), "0.1");
  EXPECT_EQ(run.tags.at("team"), "core");
  EXPECT_EQ(run.metrics.at("loss").count, 4);
  EXPECT_DOUBLE_EQ(run.metrics.at("loss").min, 0.2);
  EXPECT_EQ(reg->artifacts(id).size(), 1u);
  EXPECT_EQ(reg->artifacts(id)[0].path, "artifacts/docs/notes.txt");
  // a resume at step 1 keeps steps 0 and 1 only
  t::discard_metrics_after(1);
  EXPECT_EQ(lines(dir + "/metrics.jsonl").size(), 2u);
  EXPECT_EQ(reg->get_run(id)->metrics.at("loss").count, 2);
  EXPECT_FALSE(reg->get_run(id)->metrics.count("acc"));
  t::log_metric("loss", 0.4);  // continues at step 2
  t::end_run("failed");
  EXPECT_FALSE(t::active_run_id());
  run = *reg->get_run(id);
  EXPECT_EQ(run.status, t::kFailed);
  EXPECT_GT(run.ended, 0);
  EXPECT_EQ(run.metrics.at("loss").last_step, 2);
  EXPECT_EQ(t::read_run_json(dir).status, t::kFailed);
  EXPECT_THROW(t::end_run("finished"), ValueError);
}

TEST(Tracking, ARegistryThatCannotOpenFailsTheStartLoudly) {
  const std::string root = temp_dir();
  EXPECT_THROW(t::start_run({"exp", "", root, "postgresql://nobody@127.0.0.1:1/none"}), Error);
  EXPECT_THROW(t::start_run({"bad/name", "", root}), ValueError);
}
