#pragma once
// The training loop for the common case: epochs or a step budget, gradient accumulation
// over micro-batches, clipping, a learning-rate schedule, evaluation and checkpoints every
// N steps, callbacks, early stopping, a progress line on a terminal (plain log lines
// otherwise) and metrics as JSON lines in the run's folder. Stopping and resuming from the
// run's checkpoint gives bitwise the parameters of a run that never stopped.
//
// Writing your own loop with DataLoader, Module, Optimizer and save_checkpoint stays just
// as easy; this only saves the bookkeeping.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "data/dataloader.h"
#include "distributed/process_group.h"
#include "nn/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/checkpoint.h"
#include "train/metrics.h"

namespace anneal::train {

struct TrainerOptions {
  int64_t epochs = 1;
  int64_t max_steps = 0;          // > 0: stop after this many optimizer steps (may end mid-epoch)
  int64_t accumulate = 1;         // micro-batches per optimizer step
  double clip_grad_norm = 0;      // > 0: clip the joint gradient norm to this
  int64_t eval_every = 0;         // steps between evaluations; 0: after every epoch
  int64_t checkpoint_every = 0;   // steps between checkpoints; 0: after every epoch; < 0: never
  int64_t log_every = 50;         // steps between log lines / metric records
  std::string run_dir;            // metrics.jsonl and checkpoint.ckpt; empty: nothing written
  bool metrics_file = true;       // false: no run_dir/metrics.jsonl (the tracked run has the metrics)
  bool resume = true;             // continue from run_dir/checkpoint.ckpt when it exists
  std::string monitor = "val_loss";   // the evaluation metric early stopping watches (lower is better)
  int64_t early_stop_patience = 0;    // > 0: stop after this many evaluations without improvement
  std::string config;             // the run's config, kept in checkpoints
  bool progress = true;           // a progress line on a terminal
};

struct StepInfo {
  int64_t step, epoch;
  double loss, lr;
};

struct TrainResult {
  int64_t steps = 0, epochs_completed = 0;
  double last_loss = 0;
  std::map<std::string, double> last_eval;
  bool early_stopped = false, resumed = false;
};

// Under DistributedDataParallel (the model passed in is one) the trainer runs the same loop
// on every rank: micro-batches before the last of a step skip synchronisation (no_sync),
// rank 0 alone writes metrics, progress and checkpoints, logged losses and evaluation
// metrics are averaged over the ranks, and every rank resumes from the run's checkpoint
// (run_dir on a filesystem all ranks see). A ZeroRedundancyOptimizer makes a plain model
// distributed the same way (its step is the gradient synchronisation).
//
// Inside a tracked run (`anneal run`, or after anneal::tracking::start_run) the trainer
// logs its records through anneal::tracking too: loss, lr, samples_per_s, epoch and the
// evaluation metrics, at the optimizer step they belong to.
class Trainer {
 public:
  // The loss of one (micro-)batch; the trainer calls backward on it.
  using LossFn = std::function<Tensor(nn::Module& model, const data::Batch& batch)>;
  // Metrics on held-out data ("val_loss", "accuracy", ...), run in eval mode without grad.
  using EvalFn = std::function<std::map<std::string, double>(nn::Module& model)>;
  // After every optimizer step; return false to stop training.
  using Callback = std::function<bool(const StepInfo& info)>;

  Trainer(nn::Module& model, optim::Optimizer& optimizer, data::DataLoader& loader, LossFn loss,
          TrainerOptions options = {});
  // per_step: schedule.step() after every optimizer step, else after every epoch.
  void set_scheduler(optim::LRScheduler* scheduler, bool per_step = true);
  void set_evaluator(EvalFn eval) { eval_ = std::move(eval); }
  void add_callback(Callback cb) { callbacks_.push_back(std::move(cb)); }

  TrainResult fit();
  // Saves the run's state now (also done by fit every checkpoint_every steps). Under DDP
  // or ZeRO every rank calls it and rank 0 writes.
  void save(const std::string& path) const;

 private:
  // fit() in its pieces: resume, one micro-batch's backward, one optimizer step, its
  // records, and what follows a step (callbacks, evaluation, epoch end, checkpoint).
  struct FitState;
  bool resume_from_run_dir();  // true when a checkpoint was loaded
  int64_t planned_steps() const;  // -1 when unknown (a stream)
  double backward_micro_batch(const data::Batch& batch, bool sync, FitState& st);  // its loss
  bool is_rank0() const { return !group_ || group_->rank() == 0; }
  // The mean over ranks of `values` (unchanged on one process).
  std::vector<double> average_over_ranks(std::vector<double> values) const;
  double optimizer_step();  // the learning rate the step used
  void log_step(double loss, double lr, FitState& st);
  void after_step(double lr, bool epoch_end, FitState& st);
  void evaluate_once(FitState& st);
  void checkpoint_once(FitState& st);
  bool evaluate(TrainResult& r, MetricsLog& log);  // false: early stop
  void load(const std::string& path);

  nn::Module& model_;
  distributed::ProcessGroupPtr group_;  // the DDP model's group (null: one process)
  optim::Optimizer& opt_;
  data::DataLoader& loader_;
  LossFn loss_;
  TrainerOptions o_;
  optim::LRScheduler* sched_ = nullptr;
  bool sched_per_step_ = true;
  EvalFn eval_;
  std::vector<Callback> callbacks_;
  int64_t step_ = 0, epoch_ = 0, batch_in_epoch_ = 0;
  double best_ = 0;
  int64_t evals_without_improvement_ = 0;
  bool have_best_ = false;
};

}  // namespace anneal::train
