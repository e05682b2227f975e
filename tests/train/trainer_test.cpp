// The training loop: resuming from a checkpoint equals never stopping (bitwise), gradient
// accumulation equals a larger batch, evaluation / early stopping / callbacks, metrics
// as JSON lines, and a short run whose loss must fall.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "anneal.h"

using namespace anneal;

namespace {

std::string run_dir(const std::string& n) {
  std::string d = ::testing::TempDir() + "anneal_trainer_" + n;
  std::filesystem::remove_all(d);
  return d;
}

// Regression data: y = x @ w + noise, 96 examples.
std::shared_ptr<data::TensorDataset> regression_data() {
  Generator g(11);
  Tensor x = randn({96, 6}, {}, &g);
  Tensor y = matmul(x, randn({6, 2}, {}, &g)) + 0.1 * randn({96, 2}, {}, &g);
  return std::make_shared<data::TensorDataset>(x, y);
}

// Dropout (uses the default RNG) and batch norm (buffers) so resuming must restore both.
std::shared_ptr<nn::Sequential> net() {
  return std::make_shared<nn::Sequential>(nn::Sequential{std::make_shared<nn::Linear>(6, 16), nn::BatchNorm1d(16),
                                                         std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.2),
                                                         std::make_shared<nn::Linear>(16, 2)});
}

Tensor mse(nn::Module& m, const data::Batch& b) { return mse_loss(m(b.data), b.target); }

struct TrainingRun {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Adam> opt;
  std::unique_ptr<optim::WarmupCosineLR> sched;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<train::Trainer> trainer;

  TrainingRun(uint64_t init_seed, train::TrainerOptions o, int workers = 2) {
    manual_seed(init_seed);
    model = net();
    opt = std::make_unique<optim::Adam>(model->parameters(), 1e-2);
    sched = std::make_unique<optim::WarmupCosineLR>(*opt, 3, 30, 1e-4);
    loader = std::make_unique<data::DataLoader>(
        regression_data(), data::DataLoaderOptions{.batch_size = 10, .shuffle = true, .seed = 4, .num_workers = workers});
    trainer = std::make_unique<train::Trainer>(*model, *opt, *loader, mse, o);
    trainer->set_scheduler(sched.get());
  }
};

void expect_same_state(nn::Module& a, nn::Module& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(equal(sa[i].second, sb[i].second)) << sa[i].first;
}

TEST(Trainer, ResumeEqualsNeverStopping) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  train::TrainerOptions o{.epochs = 3, .accumulate = 2, .clip_grad_norm = 1.0, .checkpoint_every = 4,
                          .log_every = 1, .progress = false};
  o.run_dir = run_dir("full");
  TrainingRun full(5, o);
  train::TrainResult rf = full.trainer->fit();
  EXPECT_EQ(rf.steps, 15);  // 10 batches an epoch, 2 per step
  EXPECT_FALSE(rf.resumed);

  // Stop mid-epoch (step 7 = batch 4 of epoch 2), then continue in fresh objects.
  for (int64_t stop_at : {7, 10}) {
    o.run_dir = run_dir("part" + std::to_string(stop_at));
    o.max_steps = stop_at;
    TrainingRun first(5, o, 1);
    EXPECT_EQ(first.trainer->fit().steps, stop_at);
    o.max_steps = 0;
    TrainingRun second(77, o, 0);  // other init, other RNG state, other worker count
    train::TrainResult r = second.trainer->fit();
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(r.steps, 15);
    expect_same_state(*full.model, *second.model);
    EXPECT_EQ(full.opt->param_groups()[0].get("lr"), second.opt->param_groups()[0].get("lr"));
    auto fa = full.opt->state_dict(), sa = second.opt->state_dict();
    for (auto& [idx, st] : fa.state)
      for (auto& [k, t] : st) EXPECT_TRUE(equal(t, sa.state.at(idx).at(k))) << idx << k;
  }
}

TEST(Trainer, AccumulationMatchesTheLargerBatch) {
  auto train_with = [](int64_t batch, int64_t accumulate) {
    manual_seed(3);
    auto model = std::make_shared<nn::Linear>(6, 2);
    optim::SGD opt(model->parameters(), 0.05);
    data::DataLoader loader(regression_data(), {.batch_size = batch, .shuffle = true, .seed = 1});
    train::Trainer t(*model, opt, loader, mse, {.epochs = 2, .accumulate = accumulate, .progress = false});
    t.fit();
    return model->weight.clone();
  };
  Tensor big = train_with(16, 1), accumulated = train_with(8, 2);
  EXPECT_TRUE(allclose(big, accumulated, 1e-5, 1e-6));
  EXPECT_FALSE(allclose(big, train_with(8, 1), 1e-5, 1e-6));  // a real difference the test can see
}

TEST(Trainer, LossFallsAndMetricsAreJsonLines) {
  manual_seed(6);
  auto model = std::make_shared<nn::Linear>(6, 2);
  optim::Adam opt(model->parameters(), 0.05);
  auto data = regression_data();
  data::DataLoader loader(data, {.batch_size = 16, .shuffle = true});
  train::TrainerOptions o{.epochs = 20, .eval_every = 12, .log_every = 6, .progress = false};
  o.run_dir = run_dir("metrics");
  train::Trainer t(*model, opt, loader, mse, o);
  int evals = 0;
  t.set_evaluator([&](nn::Module& m) {
    ++evals;
    EXPECT_FALSE(m.is_training());
    EXPECT_FALSE(GradMode::is_enabled());
    return std::map<std::string, double>{{"val_loss", mse_loss(m(data->data()), data->target()).item<double>()}};
  });
  train::TrainResult r = t.fit();
  EXPECT_EQ(r.steps, 120);
  EXPECT_EQ(evals, 10);
  EXPECT_LT(r.last_eval.at("val_loss"), 0.05);
  std::ifstream f(o.run_dir + "/metrics.jsonl");
  int train_lines = 0, eval_lines = 0;
  for (std::string line; std::getline(f, line);) {
    ASSERT_EQ(line.front(), '{');
    ASSERT_EQ(line.back(), '}');
    if (line.find("\"samples_per_s\"") != std::string::npos) ++train_lines;
    if (line.find("\"val_loss\"") != std::string::npos) ++eval_lines;
  }
  EXPECT_EQ(train_lines, 20);
  EXPECT_EQ(eval_lines, 10);
  // The run's checkpoint is there; a second fit resumes and has nothing left to do.
  EXPECT_TRUE(std::filesystem::exists(o.run_dir + "/checkpoint.ckpt") || !train::checkpoints_available());
}

TEST(Trainer, EarlyStoppingAndCallbacks) {
  manual_seed(7);
  auto model = std::make_shared<nn::Linear>(6, 2);
  optim::SGD opt(model->parameters(), 0.01);
  data::DataLoader loader(regression_data(), {.batch_size = 32});
  train::Trainer t(*model, opt, loader, mse, {.epochs = 50, .early_stop_patience = 3, .progress = false});
  std::vector<double> scores = {5, 4, 4.5, 4.2, 4.1, 3};  // best at the 2nd, then 3 without improvement
  size_t i = 0;
  t.set_evaluator([&](nn::Module&) { return std::map<std::string, double>{{"val_loss", scores[i++]}}; });
  train::TrainResult r = t.fit();
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.epochs_completed, 5);
  EXPECT_EQ(r.steps, 15);

  data::DataLoader loader2(regression_data(), {.batch_size = 32});
  train::Trainer t2(*model, opt, loader2, mse, {.epochs = 50, .progress = false});
  t2.add_callback([](const train::StepInfo& s) { return s.step < 4; });
  EXPECT_EQ(t2.fit().steps, 4);

  data::DataLoader loader3(regression_data(), {.batch_size = 32});
  train::Trainer t3(*model, opt, loader3, mse, {.epochs = 50, .early_stop_patience = 2, .progress = false});
  t3.set_evaluator([](nn::Module&) { return std::map<std::string, double>{{"accuracy", 1}}; });
  EXPECT_THROW(t3.fit(), ValueError);  // watches val_loss, which the evaluator does not give
  EXPECT_THROW(train::Trainer(*model, opt, loader3, mse, {.accumulate = 0}), ValueError);
  data::DataLoader empty(regression_data(), {.batch_size = 200, .drop_last = true});
  train::Trainer t4(*model, opt, empty, mse, {.progress = false});
  EXPECT_THROW(t4.fit(), ValueError);
}

}  // namespace
