// The registry on SQLite (always) and on PostgreSQL (when ANNEAL_TEST_POSTGRES_URI names a
// server: tests/tools/test_registry_postgres.py starts one and runs these against it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "tracking/errors.h"
#include "tracking/export.h"
#include "tracking/registry.h"
#include "tracking/run_query.h"

using namespace anneal;
using namespace anneal::tracking;

namespace {

std::string temp_dir() {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("anneal-registry-" + std::to_string(rd()));
  std::filesystem::create_directories(p);
  return p.string();
}

// Each test gets an empty registry: a fresh SQLite file, or a fresh PostgreSQL schema.
std::unique_ptr<Registry> fresh_registry() {
  const char* pg = std::getenv("ANNEAL_TEST_POSTGRES_URI");
  if (pg && *pg) {
    auto db = open_postgres(pg);
    db->exec("DROP SCHEMA IF EXISTS anneal_test CASCADE");
    db->exec("CREATE SCHEMA anneal_test");
    db->exec("SET search_path TO anneal_test");
    return std::make_unique<Registry>(std::move(db));
  }
  return Registry::open("sqlite:" + temp_dir() + "/anneal.db");
}

RunRecord run(const std::string& id, const std::string& experiment = "exp", double created = 1000) {
  RunRecord r;
  r.id = id;
  r.experiment = experiment;
  r.name = id;
  r.status = kRunning;
  r.kind = "command";
  r.folder = "/runs/" + experiment + "/" + id;
  r.host = "h";
  r.created = created;
  r.started = created;
  return r;
}

}  // namespace

TEST(Registry, CreatesListsAndUpdatesRuns) {
  auto reg = fresh_registry();
  EXPECT_EQ(reg->schema_version(), Registry::kSchemaVersion);
  RunRecord a = run("a1", "exp", 100), b = run("b2", "other", 200);
  a.params = {{"lr", "0.1"}};
  a.tags = {{"team", "core"}};
  reg->create_run(a);
  reg->create_run(b);
  auto all = reg->list_runs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "b2");  // newest first
  EXPECT_EQ(reg->list_runs("exp").size(), 1u);
  EXPECT_EQ(reg->list_runs("", kRunning).size(), 2u);
  RunUpdate u;
  u.status = kFailed;
  u.exit_code = 3;
  u.error = "boom";
  u.ended = 150;
  reg->update_run("a1", u);
  auto got = reg->get_run("a1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, kFailed);
  EXPECT_EQ(got->exit_code.value_or(0), 3);
  EXPECT_EQ(got->error, "boom");
  EXPECT_DOUBLE_EQ(got->ended, 150);
  EXPECT_EQ(got->params.at("lr"), "0.1");
  EXPECT_EQ(got->tags.at("team"), "core");
  RunUpdate resume;
  resume.status = kRunning;
  resume.clear_exit = true;
  reg->update_run("a1", resume);
  got = reg->get_run("a1");
  EXPECT_FALSE(got->exit_code.has_value());
  EXPECT_EQ(got->error, "");
  EXPECT_EQ(reg->experiments(), (std::vector<std::string>{"exp", "other"}));
  EXPECT_FALSE(reg->get_run("nope"));
  EXPECT_THROW(reg->create_run(a), RegistryError);  // the same id twice
  RunUpdate bad;
  bad.status = "finished";
  EXPECT_THROW(reg->update_run("a1", bad), ValueError);
}

TEST(Registry, MetricsKeepEveryPointAndTheirSummary) {
  auto reg = fresh_registry();
  reg->create_run(run("r"));
  std::vector<MetricPoint> pts;
  for (int i = 0; i < 1000; ++i) pts.push_back({"loss", 1.0 / (i + 1), i, 1.0 + i});
  pts.push_back({"loss", std::nan(""), 1000, 2000});  // non-finite: kept, but not a min or max
  reg->log_batch("r", pts, {{"lr", "0.1"}}, {{"k", "v"}});
  // a later batch at earlier steps does not become "last"
  reg->log_batch("r", {{"loss", 5.0, 3, 3000}, {"acc", 0.5, 0, 3000}}, {{"lr", "0.2"}});
  auto r = *reg->get_run("r");
  const MetricSummary& s = r.metrics.at("loss");
  EXPECT_EQ(s.count, 1002);
  EXPECT_EQ(s.last_step, 1000);
  EXPECT_TRUE(std::isnan(s.last));
  EXPECT_DOUBLE_EQ(s.min, 1.0 / 1000);
  EXPECT_DOUBLE_EQ(s.max, 5.0);
  EXPECT_EQ(r.params.at("lr"), "0.2");  // a param logged again takes the new value
  auto h = reg->metric_history("r", {"loss"});
  ASSERT_EQ(h.size(), 1u);
  ASSERT_EQ(h["loss"].size(), 1002u);
  EXPECT_EQ(h["loss"][0].step, 0);
  EXPECT_DOUBLE_EQ(h["loss"][0].value, 1.0);
  EXPECT_DOUBLE_EQ(h["loss"][123].value, 1.0 / 123);  // (steps 0..3, then the extra step 3 point)
  // a resume from step 500 drops the later points and recomputes the summary
  reg->discard_metrics_after("r", 500);
  r = *reg->get_run("r");
  EXPECT_EQ(r.metrics.at("loss").count, 502);
  EXPECT_EQ(r.metrics.at("loss").last_step, 500);
  EXPECT_DOUBLE_EQ(r.metrics.at("loss").last, 1.0 / 501);
  EXPECT_DOUBLE_EQ(r.metrics.at("acc").last, 0.5);
  reg->delete_run("r");
  EXPECT_FALSE(reg->get_run("r"));
  EXPECT_TRUE(reg->metric_history("r").empty());
}

TEST(Registry, FindsIdsByPrefixWithoutPatterns) {
  auto reg = fresh_registry();
  reg->create_run(run("20261201-aaa_1"));
  reg->create_run(run("20261201-aab"));
  reg->create_run(run("20261201-xa%"));
  EXPECT_EQ(reg->find_ids("20261201-aa").size(), 2u);
  EXPECT_EQ(reg->find_ids("20261201-aaa_").size(), 1u);
  EXPECT_EQ(reg->find_ids("20261201-a_").size(), 0u);  // _ is no wildcard
  EXPECT_EQ(reg->find_ids("20261201-xa%").size(), 1u);
  EXPECT_EQ(reg->find_ids("2026").size(), 3u);
}

TEST(Registry, TextValuesAreNeverSql) {
  auto reg = fresh_registry();
  RunRecord r = run("q");
  r.name = "x'); DROP TABLE runs; --";
  r.params = {{"p", "'\"; DELETE FROM params"}};
  reg->create_run(r);
  auto got = *reg->get_run("q");
  EXPECT_EQ(got.name, r.name);
  EXPECT_EQ(got.params.at("p"), r.params.at("p"));
  EXPECT_EQ(reg->list_runs().size(), 1u);
}

TEST(RunQuery, FiltersAndSorts) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 4; ++i) {
    RunRecord r = run("r" + std::to_string(i));
    r.metrics["val_loss"].last = 0.1 * (i + 1);
    r.params["lr"] = i % 2 ? "0.1" : "0.01";
    r.status = i == 3 ? kFailed : kCompleted;
    runs.push_back(r);
  }
  runs[2].metrics.clear();
  auto ids = [&](const std::string& where) {
    RunFilter f(where);
    std::string out;
    for (auto& r : runs)
      if (f.matches(r)) out += r.id + " ";
    return out;
  };
  EXPECT_EQ(ids("metric.val_loss < 0.25"), "r0 r1 ");
  EXPECT_EQ(ids("metric.val_loss >= 0.2 and param.lr = 0.1"), "r1 r3 ");
  EXPECT_EQ(ids("status = failed or metric.val_loss <= 0.1"), "r0 r3 ");
  EXPECT_EQ(ids("param.lr != 0.1"), "r0 r2 ");
  EXPECT_EQ(ids("metric.val_loss > 0"), "r0 r1 r3 ");  // r2 has no val_loss
  EXPECT_EQ(ids("name ~ r"), "r0 r1 r2 r3 ");
  EXPECT_EQ(ids("param.lr = '0.01'"), "r0 r2 ");
  EXPECT_THROW(RunFilter("metric.val_loss <"), ValueError);
  EXPECT_THROW(RunFilter("accuracy > 1"), ValueError);  // not a field
  EXPECT_THROW(RunFilter("metric.a > 1 xor metric.b > 2"), ValueError);
  EXPECT_THROW(RunFilter("status = 'open"), ValueError);
  sort_runs(runs, "-metric.val_loss");
  EXPECT_EQ(runs[0].id, "r3");
  EXPECT_EQ(runs[2].id, "r0");
  EXPECT_EQ(runs[3].id, "r2");  // missing last
  EXPECT_THROW(sort_runs(runs, "-accuracy"), ValueError);
}

TEST(Export, Crc32cMatchesTheStandardCheckValue) {
  // the check value of CRC-32C (Castagnoli) over "123456789"
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Registry, RefusesAnUnknownUriAndANewerSchema) {
  EXPECT_THROW(Registry::open("mysql://x"), ValueError);
  EXPECT_THROW(Registry::open(""), ValueError);
  const std::string dir = temp_dir();
  { Registry::open("sqlite:" + dir + "/a.db"); }
  {
    auto db = open_sqlite(dir + "/a.db");
    db->exec("UPDATE schema_version SET version = 99");
  }
  try {
    Registry::open(dir + "/a.db");
    FAIL() << "a newer schema was accepted";
  } catch (const RegistryError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this anneal's"), std::string::npos) << e.what();
  }
  // not a database at all
  { std::ofstream(dir + "/junk.db") << "this is not sqlite, it is a text file of some length....................."; }
  EXPECT_THROW(Registry::open(dir + "/junk.db"), RegistryError);
}
