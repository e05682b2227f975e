// Job files: what loads, and the message of every kind of mistake (file, line, key path,
// what was expected, the closest valid key).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/read_file.h"
#include "jobs/job.h"
#include "jobs/schema.h"

using namespace anneal;
using namespace anneal::jobs;

namespace {

std::string dir() {
  static std::string d = [] {
    std::random_device rd;
    auto p = std::filesystem::temp_directory_path() / ("anneal-jobs-" + std::to_string(rd()));
    std::filesystem::create_directories(p / "data");
    std::ofstream(p / "data" / "train.csv") << "x\n";
    return p.string();
  }();
  return d;
}

std::string write(const std::string& name, const std::string& text) {
  const std::string path = dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The JobError message of loading `text` (as job.yaml), or "" when it loads.
std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    load_job(write("job.yaml", text), sets);
    return "";
  } catch (const JobError& e) {
    return e.what();
  }
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

}  // namespace

TEST(JobFile, ACommandJobLoadsAndResolves) {
  Job j = load_job(write("job.yaml", R"(
experiment: demo
command: python3 train.py --lr ${{inputs.lr}} --data ${{inputs.data}} --out ${{outputs.model}} --id ${{run.id}}
inputs:
  lr: 0.1
  data: {type: uri_file, path: data/train.csv}
outputs:
  model: {type: uri_folder}
environment_variables: {MODE: fast}
limits: {timeout: 15m}
distribution: {type: pytorch, process_count_per_instance: 2}
tags: {team: core}
)"));
  EXPECT_EQ(j.type, "command");
  EXPECT_EQ(j.experiment, "demo");
  EXPECT_DOUBLE_EQ(j.timeout_s, 900);
  EXPECT_EQ(j.distribution, "pytorch");
  EXPECT_EQ(j.procs_per_instance, 2);
  EXPECT_EQ(j.inputs.at("data"), std::filesystem::path(dir() + "/data/train.csv").lexically_normal().string());
  EXPECT_EQ(j.env.at("MODE"), "fast");
  Resolved r = resolve(j, {"RID", "/runs/demo/RID", "n", "demo"});
  EXPECT_EQ(r.command, "python3 train.py --lr 0.1 --data " + j.inputs.at("data") +
                           " --out /runs/demo/RID/outputs/model --id RID");
  // resolved.yaml reads back as the same job (strings stay strings)
  Job again = load_job_text(to_yaml(r.tree), "resolved.yaml", dir());
  EXPECT_EQ(again.command, r.command);
}

TEST(JobFile, ATrainJobLoadsWithBaseFilesAndOverrides) {
  write("base.yaml", "model: {name: mlp, dropout: 0.1}\ndata: {name: fashion_mnist}\noptimizer: {name: sgd, lr: 0.1}\n"
                     "epochs: 3\n");
  Job j = load_job(write("job.yaml", "base: base.yaml\noptimizer: {lr: 0.05}\nbatch_size: 64\n"),
                   {"epochs=1", "model.dropout=0.2", "schedule.name=cosine"});
  EXPECT_EQ(j.type, "train");
  const Node& t = j.tree;
  EXPECT_EQ(t.find("optimizer")->find("name")->text, "sgd");   // kept from the base
  EXPECT_EQ(t.find("optimizer")->find("lr")->text, "0.05");    // the file over its base
  EXPECT_EQ(t.find("epochs")->text, "1");                      // --set over both
  EXPECT_EQ(t.find("model")->find("dropout")->text, "0.2");
  EXPECT_EQ(t.find("schedule")->find("name")->text, "cosine");
}

TEST(JobFile, UnknownKeysNameTheLineAndTheClosestKey) {
  std::string e = error_of("command: echo\nenviroment_variables: {A: b}\n");
  EXPECT_HAS(e, "job.yaml:2: enviroment_variables: unknown key; did you mean 'environment_variables'?");
  e = error_of("model: {name: mlp}\ndata: {name: fashion_mnist}\noptimizer:\n  name: sgd\n  lr: 0.1\n  momentun: 0.9\n");
  EXPECT_HAS(e, "job.yaml:6: optimizer.momentun: unknown key; did you mean 'momentum'?");
  e = error_of("command: echo\nlimits: {walltime: 10}\n");
  EXPECT_HAS(e, "limits.walltime: unknown key (valid here: timeout)");
}

TEST(JobFile, WrongTypesAndValuesSayWhatWasExpected) {
  const std::string train = "model: {name: mlp}\ndata: {name: fashion_mnist}\n";
  EXPECT_HAS(error_of(train + "epochs: three\n"), "job.yaml:3: epochs: expected a whole number, got the string 'three'");
  EXPECT_HAS(error_of(train + "epochs: 0\n"), "epochs: expected a whole number at least 1, got 0");
  EXPECT_HAS(error_of(train + "epochs: \"3\"\n"), "epochs: expected a whole number, got the string '3'");
  EXPECT_HAS(error_of(train + "precision: fp8\n"), "precision: expected one of fp32, bf16, fp16, got 'fp8'");
  EXPECT_HAS(error_of(train + "optimizer: {name: adamm}\n"), "(did you mean 'adam'?)");
  EXPECT_HAS(error_of(train + "optimizer: {lr: 0.1}\n"), "optimizer: the key 'name' is required");
  EXPECT_HAS(error_of(train + "optimizer: {name: sgd, lr: -1}\n"), "optimizer.lr: expected a number at least 0, got -1");
  EXPECT_HAS(error_of("model: {name: mlp}\ndata: {name: fashion_mnist, normalize: maybe}\n"),
             "data.normalize: expected true or false");
  EXPECT_HAS(error_of(train + "device: gpu\n"), "device: expected auto, cpu, cuda or cuda:N, got 'gpu'");
  EXPECT_HAS(error_of("command: echo\nlimits: {timeout: soon}\n"), "limits.timeout: expected a duration");
  EXPECT_HAS(error_of("command: [echo, hi]\n"), "job.yaml:1: command: expected a string, got a list");
  EXPECT_HAS(error_of("- a\n- b\n"), "expected a map of settings at the top, got a list");
  EXPECT_HAS(error_of(""), "the job file is empty");
  EXPECT_HAS(error_of("command: echo\nexperiment: a/b\n"), "experiment: 'a/b' must be 1-100 letters");
  EXPECT_HAS(error_of("command: echo\nresources: {instance_count: 2}\n"), "need compute: slurm");
}

TEST(JobFile, KindsOfJobsDoNotMix) {
  EXPECT_HAS(error_of("command: echo\nmodel: {name: mlp}\n"), "model: belongs to the built-in trainer");
  EXPECT_HAS(error_of("model: {name: mlp}\n"), "a train job needs `data:`");
  EXPECT_HAS(error_of("type: command\n"), "a command job needs `command:`");
  EXPECT_HAS(error_of("type: train\ncommand: echo\nmodel: {name: mlp}\ndata: {name: text}\n"),
             "command: a train job runs the built-in trainer");
}

TEST(JobFile, ReferencesAndInputsAreCheckedBeforeAnythingRuns) {
  EXPECT_HAS(error_of("command: run ${{inputs.lrr}}\ninputs: {lr: 1}\n"),
             "job.yaml:1: command: ${{inputs.lrr}}: no input 'lrr' (did you mean 'lr'?)");
  EXPECT_HAS(error_of("command: run ${{outputs.m}}\n"), "no output 'm'");
  EXPECT_HAS(error_of("command: run ${{run.folder}}\n"), "the run's values are run.id, run.dir");
  EXPECT_HAS(error_of("command: run ${{search_space.lr}}\n"), "only in a sweep's trial");
  EXPECT_HAS(error_of("command: run ${{secrets.x}}\n"), "unknown reference");
  EXPECT_HAS(error_of("command: run\ninputs:\n  d: {type: uri_folder, path: missing}\n"),
             "job.yaml:3: inputs.d.path: 'missing' is not a folder");
  EXPECT_HAS(error_of("command: run\ninputs:\n  d: {type: uri_file, path: data}\n"), "'data' is not a file");
  EXPECT_HAS(error_of("command: run\ninputs:\n  n: {type: integer, value: 1.5}\n"), "inputs.n.value: expected a whole number");
  EXPECT_HAS(error_of("command: run\ncode: nowhere\n"), "code: 'nowhere' is not a folder");
}

TEST(JobFile, SyntaxBasesAndSetsFailClearly) {
  EXPECT_HAS(error_of("command: echo\nlimits: {timeout: 1\n"), "job.yaml:");
  EXPECT_HAS(error_of("command: echo\nlimits: {timeout: 1\n"), "not valid YAML");
  EXPECT_HAS(error_of("command: a\ncommand: b\n"), "job.yaml:2: the key 'command' appears twice");
  write("loop_a.yaml", "base: loop_b.yaml\ncommand: a\n");
  write("loop_b.yaml", "base: loop_a.yaml\n");
  try {
    load_job(dir() + "/loop_a.yaml");
    FAIL();
  } catch (const JobError& e) {
    EXPECT_HAS(e.what(), "its base files include it again");
  }
  EXPECT_HAS(error_of("base: missing.yaml\ncommand: a\n"), "its base file 'missing.yaml' does not exist");
  EXPECT_HAS(error_of("command: a\n", {"limits.timout=5"}), "--set limits.timout: limits.timout: unknown key; did you mean 'timeout'?");
  EXPECT_HAS(error_of("command: a\n", {"novalue"}), "expected key.path=value");
  EXPECT_HAS(error_of("command: a\n", {"command.x=1"}), "'command' is the string 'a' in the job, not a map");
  EXPECT_THROW(load_job(dir() + "/absent.yaml"), JobError);
}

TEST(JobFile, TheDocsCarryTheSchemaTable) {
  // docs/jobs.md holds `anneal schema`'s table verbatim: one source, checked here
  const std::string docs = read_whole_file(ANNEAL_SOURCE_DIR "/docs/jobs.md", "test");
  EXPECT_HAS(docs, schema_markdown(job_schema()));
  EXPECT_HAS(docs, schema_markdown(sweep_schema()));
  EXPECT_HAS(docs, schema_markdown(pipeline_schema()));
}

TEST(JobFile, Durations) {
  auto d = [](const std::string& t) { return parse_duration(scalar(t, false, {})); };
  EXPECT_DOUBLE_EQ(*d("90"), 90);
  EXPECT_DOUBLE_EQ(*d("90s"), 90);
  EXPECT_DOUBLE_EQ(*d("1.5h"), 5400);
  EXPECT_DOUBLE_EQ(*d("2d"), 172800);
  EXPECT_FALSE(d("2 weeks"));
}

TEST(JobFile, AliasBombsAndDeepNestingAreRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  const char* names = "abcdefghij";
  for (int i = 1; i < 10; ++i) {
    bomb += std::string(1, names[i]) + ": &" + names[i] + " [";
    for (int k = 0; k < 10; ++k) bomb += std::string(k ? ", " : "") + "*" + names[i - 1];
    bomb += "]\n";
  }
  EXPECT_HAS(error_of(bomb + "command: echo\n"), "more than 200000 values");
  std::string deep = "command: echo\ntags: ";
  for (int i = 0; i < 100; ++i) deep += "[";
  EXPECT_HAS(error_of(deep + "\n"), "job.yaml");
}

TEST(JobFile, BytesThatAreNotUtf8AreRefused) {
  EXPECT_HAS(error_of("command: echo\ntags: {a: \"caf\xe9\"}\n"), "job.yaml:2: not valid UTF-8");
}
