#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/autograd/grad_mode.h"
#include "core/directories.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "distributed/ddp.h"
#include "distributed/zero.h"
#include "ops/ops.h"
#include "tracking/tracking.h"

namespace anneal::train {

namespace {

// Records into the tracked run, when there is one (never creates one).
void track(const std::map<std::string, double>& record, int64_t step) {
  if (!tracking::active_run_id()) return;
  tracking::log_metrics(record, step);
}
std::string checkpoint_path(const std::string& run_dir) { return run_dir + "/checkpoint.ckpt"; }
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

Trainer::Trainer(nn::Module& model, optim::Optimizer& optimizer, data::DataLoader& loader, LossFn loss,
                 TrainerOptions options)
    : model_(model), opt_(optimizer), loader_(loader), loss_(std::move(loss)), o_(std::move(options)) {
  ANNEAL_CHECK(loss_ != nullptr, ValueError, "Trainer: a loss function is required");
  ANNEAL_CHECK(o_.epochs > 0 || o_.max_steps > 0, ValueError, "Trainer: epochs or max_steps must be positive");
  ANNEAL_CHECK(o_.accumulate >= 1, ValueError, "Trainer: accumulate must be at least 1, got ", o_.accumulate);
  ANNEAL_CHECK(o_.clip_grad_norm >= 0, ValueError, "Trainer: clip_grad_norm must be non-negative");
  ANNEAL_CHECK(o_.eval_every >= 0, ValueError, "Trainer: eval_every must be non-negative");
  if (o_.max_steps > 0 && o_.epochs <= 0) o_.epochs = INT64_MAX;
  if (auto* ddp = dynamic_cast<distributed::DistributedDataParallel*>(&model_))
    if (ddp->group()->size() > 1) group_ = ddp->group();
  if (auto* zero = dynamic_cast<distributed::ZeroRedundancyOptimizer*>(&opt_))
    if (zero->group()->size() > 1) group_ = zero->group();
}

std::vector<double> Trainer::average_over_ranks(std::vector<double> values) const {
  if (!group_) return values;
  // on the group's device: NCCL moves GPU tensors only
  Tensor t = tensor(values, {static_cast<int64_t>(values.size())}, DType::Float64).to(group_->device());
  group_->all_reduce(t, distributed::ReduceOp::Avg)->wait();
  t = t.cpu();
  const double* p = t.data_ptr<double>();
  return std::vector<double>(p, p + values.size());
}

void Trainer::set_scheduler(optim::LRScheduler* scheduler, bool per_step) {
  sched_ = scheduler;
  sched_per_step_ = per_step;
}

void Trainer::save(const std::string& path) const {
  Checkpoint c = capture(model_, &opt_);  // on every rank: ZeroRedundancyOptimizer gathers its state here
  if (sched_) c.scheduler = sched_->state_dict();
  c.step = step_, c.epoch = epoch_, c.batch_in_epoch = batch_in_epoch_;
  c.config = o_.config;
  c.extra = {{"best", best_}, {"have_best", double(have_best_)},
             {"evals_without_improvement", double(evals_without_improvement_)}};
  if (is_rank0()) save_checkpoint(path, c);
}

void Trainer::load(const std::string& path) {
  Checkpoint c = load_checkpoint(path);
  ANNEAL_CHECK(!c.extra.count("best") || !std::isnan(c.extra.at("best")), ValueError, "Trainer: checkpoint '", path,
               "' has a NaN best metric");
  ANNEAL_CHECK(c.step >= 0 && c.epoch >= 0 && c.batch_in_epoch >= 0, ValueError, "Trainer: checkpoint '", path,
               "' has a negative position (step ", c.step, ", epoch ", c.epoch, ", batch ", c.batch_in_epoch, ")");
  const double evals = c.extra.count("evals_without_improvement") ? c.extra.at("evals_without_improvement") : 0.0;
  ANNEAL_CHECK(evals >= 0 && evals < 0x1p53 && evals == std::floor(evals), ValueError, "Trainer: checkpoint '", path,
               "' has evals_without_improvement ", evals, " (expected a non-negative whole number)");
  if (sched_ && !c.scheduler.empty()) sched_->check_state_dict(c.scheduler);  // before anything changes
  restore(c, model_, &opt_);
  if (sched_ && !c.scheduler.empty()) sched_->load_state_dict(c.scheduler);
  step_ = c.step, epoch_ = c.epoch, batch_in_epoch_ = c.batch_in_epoch;
  best_ = c.extra.count("best") ? c.extra.at("best") : 0.0;
  have_best_ = c.extra.count("have_best") && c.extra.at("have_best") != 0;
  evals_without_improvement_ = int64_t(evals);
}

bool Trainer::evaluate(TrainResult& r, MetricsLog& log) {
  if (!eval_) return true;
  model_.eval();
  std::map<std::string, double> m;
  {
    NoGradGuard no_grad;
    m = eval_(model_);
  }
  model_.train();
  if (group_) {
    // every rank evaluated (its shard, or all of it): the metrics are their mean; the
    // ranks must return the same names
    std::vector<double> v{static_cast<double>(m.size()), -static_cast<double>(m.size())};
    Tensor counts = tensor(v, {2}, DType::Float64).to(group_->device());
    group_->all_reduce(counts, distributed::ReduceOp::Max)->wait();
    counts = counts.cpu();
    ANNEAL_CHECK(counts.data_ptr<double>()[0] == -counts.data_ptr<double>()[1], ValueError,
                 "Trainer: the evaluator returned different metrics on different ranks");
    std::vector<double> vals;
    for (auto& [k, val] : m) vals.push_back(val);
    vals = average_over_ranks(vals);
    size_t i = 0;
    for (auto& [k, val] : m) val = vals[i++];
  }
  r.last_eval = m;
  std::map<std::string, double> record = m;
  if (is_rank0()) track(record, step_);
  record["step"] = double(step_);
  record["epoch"] = double(epoch_);
  log.write(record);
  std::string text = str("step ", step_);
  for (auto& [k, v] : m) text += str(" ", k, " ", v);
  if (is_rank0()) std::printf("%s\n", text.c_str());
  if (o_.early_stop_patience <= 0) return true;
  auto it = m.find(o_.monitor);
  ANNEAL_CHECK(it != m.end(), ValueError, "Trainer: early stopping watches '", o_.monitor,
               "' but the evaluator did not return it");
  if (!have_best_ || it->second < best_) {
    best_ = it->second, have_best_ = true, evals_without_improvement_ = 0;
    return true;
  }
  return ++evals_without_improvement_ < o_.early_stop_patience;
}

// What one fit() keeps between steps: the records, the progress line and the averages of
// the current logging window.
struct Trainer::FitState {
  FitState(const TrainerOptions& o, int64_t total, const std::string& metrics_path, bool rank0)
      : log(metrics_path),
        progress(total, rank0 && o.progress && stdout_is_terminal(), rank0 ? std::max<int64_t>(o.log_every, 1) : 0) {}
  TrainResult result;
  MetricsLog log;
  Progress progress;
  int64_t last_eval = -1, last_checkpoint = -1;
  bool early = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), window_start = start;
  double window_loss = 0;
  int64_t window_steps = 0, window_samples = 0;
};

bool Trainer::resume_from_run_dir() {
  if (o_.run_dir.empty()) return false;
  make_directories(o_.run_dir, "Trainer: run_dir");
  const bool found =
      o_.resume && checkpoints_available() && path_exists(checkpoint_path(o_.run_dir), "Trainer: resume");
  if (group_) {
    // all ranks resume, or none: a rank that does not see rank 0's checkpoint would train
    // from another state
    auto v = average_over_ranks({found ? 1.0 : 0.0});
    ANNEAL_CHECK(v[0] == 0.0 || v[0] == 1.0, ValueError, "Trainer: ", checkpoint_path(o_.run_dir),
                 " exists for some ranks only: put run_dir on a filesystem every rank sees");
  }
  if (!found) return false;
  load(checkpoint_path(o_.run_dir));
  if (is_rank0()) std::printf("resumed from %s at step %lld (epoch %lld, batch %lld)\n", checkpoint_path(o_.run_dir).c_str(),
              (long long)step_, (long long)epoch_ + 1, (long long)batch_in_epoch_);
  return true;
}

int64_t Trainer::planned_steps() const {
  const int64_t batches = loader_.num_batches();
  const int64_t steps_per_epoch = batches < 0 ? -1 : (batches + o_.accumulate - 1) / o_.accumulate;
  int64_t total = o_.max_steps > 0 ? o_.max_steps : steps_per_epoch < 0 ? -1 : steps_per_epoch * o_.epochs;
  if (o_.max_steps > 0 && steps_per_epoch > 0 && o_.epochs < INT64_MAX) total = std::min(total, steps_per_epoch * o_.epochs);
  return total;
}

double Trainer::backward_micro_batch(const data::Batch& batch, bool sync, FitState& st) {
  auto* ddp = group_ ? dynamic_cast<distributed::DistributedDataParallel*>(&model_) : nullptr;
  const bool was = ddp ? ddp->require_sync() : true;
  if (ddp) ddp->set_require_sync(sync);  // micro-batches before a step's last accumulate locally
  struct Restore {
    distributed::DistributedDataParallel* d;
    bool v;
    ~Restore() {
      if (d) d->set_require_sync(v);
    }
  } restore{ddp, was};
  Tensor loss = loss_(model_, batch);
  ANNEAL_CHECK(loss.defined() && loss.numel() == 1, ValueError, "Trainer: the loss function must return a single value");
  (o_.accumulate > 1 ? loss * (1.0 / double(o_.accumulate)) : loss).backward();
  st.window_samples += batch.data.defined() && batch.data.dim() ? batch.data.size(0) : 1;
  ++batch_in_epoch_;
  return loss.item<double>();
}

double Trainer::optimizer_step() {
  if (o_.clip_grad_norm > 0) optim::clip_grad_norm_(model_.parameters(), o_.clip_grad_norm);
  opt_.step();
  opt_.zero_grad();
  ++step_;
  const double lr = opt_.param_groups().front().get("lr");  // the rate this step used
  if (sched_ && sched_per_step_) sched_->step();
  return lr;
}

void Trainer::log_step(double loss, double lr, FitState& st) {
  st.result.last_loss = loss;
  st.window_loss += loss;
  ++st.window_steps;
  const double window_s = seconds_since(st.window_start);
  st.progress.update(step_, epoch_, loss, window_s > 0 ? double(st.window_samples) / window_s : 0.0);
  if (step_ % std::max<int64_t>(o_.log_every, 1) != 0) return;
  const double window_loss = average_over_ranks({st.window_loss / double(st.window_steps)})[0];
  std::map<std::string, double> record{{"epoch", double(epoch_)}, {"loss", window_loss}, {"lr", lr},
                                       {"samples_per_s", double(st.window_samples) / window_s},
                                       {"time_s", seconds_since(st.start)}};
  if (is_rank0()) track(record, step_);
  record["step"] = double(step_);
  st.log.write(record);
  st.window_start = std::chrono::steady_clock::now();
  st.window_loss = 0, st.window_steps = 0, st.window_samples = 0;
}

void Trainer::evaluate_once(FitState& st) {
  if (!eval_ || st.last_eval == step_) return;
  st.last_eval = step_;
  st.progress.finish();
  st.early |= !evaluate(st.result, st.log);
}

void Trainer::checkpoint_once(FitState& st) {
  // (a build without protobuf keeps metrics but writes no checkpoints)
  if (o_.run_dir.empty() || o_.checkpoint_every < 0 || st.last_checkpoint == step_ || !checkpoints_available()) return;
  st.last_checkpoint = step_;
  // the records reach the run before the checkpoint does: a crash after it loses none of
  // the steps a resume will not log again
  if (is_rank0() && tracking::active_run_id()) tracking::flush();
  save(checkpoint_path(o_.run_dir));
}

void Trainer::after_step(double lr, bool epoch_end, FitState& st) {
  for (auto& cb : callbacks_) st.early |= !cb({step_, epoch_, st.result.last_loss, lr});
  // one rank stops: all do (every rank takes part, whether or not it has callbacks)
  if (group_) st.early = average_over_ranks({st.early ? 1.0 : 0.0})[0] > 0;
  if (o_.eval_every > 0 && step_ % o_.eval_every == 0) evaluate_once(st);
  if (epoch_end) {
    // The epoch counts as done before its checkpoint, so a resumed run starts the next one.
    ++epoch_, batch_in_epoch_ = 0, ++st.result.epochs_completed;
    if (sched_ && !sched_per_step_) sched_->step();
    if (o_.eval_every == 0) evaluate_once(st);
  }
  if ((o_.checkpoint_every > 0 && step_ % o_.checkpoint_every == 0) || (epoch_end && o_.checkpoint_every == 0))
    checkpoint_once(st);
}

TrainResult Trainer::fit() {
  const bool resumed = resume_from_run_dir();
  FitState st(o_, planned_steps(),
              o_.run_dir.empty() || !is_rank0() || !o_.metrics_file ? "" : o_.run_dir + "/metrics.jsonl", is_rank0());
  st.result.resumed = resumed;
  // the steps after the checkpoint were logged before the stop and will be again
  if (resumed && is_rank0() && tracking::active_run_id()) tracking::discard_metrics_after(step_);
  auto done = [&] { return o_.max_steps > 0 && step_ >= o_.max_steps; };
  model_.train();
  opt_.zero_grad();
  while (!st.early && !done() && epoch_ < o_.epochs) {
    loader_.start_epoch(epoch_);
    if (batch_in_epoch_ > 0) loader_.skip(batch_in_epoch_);
    data::Batch batch;
    bool more = loader_.next(batch);
    ANNEAL_CHECK(more, ValueError, "Trainer: the data loader gave no batches in epoch ", epoch_ + 1,
                 " (a dataset smaller than one batch with drop_last?)");
    int64_t micro = 0;
    double step_loss = 0;
    while (more) {
      // the next batch is fetched first: whether this micro-batch ends the step (and so
      // synchronises under DDP) depends on whether the epoch goes on
      data::Batch current = std::move(batch);
      more = loader_.next(batch);
      const bool ends_step = micro + 1 >= o_.accumulate || !more;
      step_loss += backward_micro_batch(current, ends_step, st);
      ++micro;
      if (!ends_step) continue;  // an epoch's last micro-batches step together
      const double lr = optimizer_step();
      log_step(step_loss / double(micro), lr, st);
      micro = 0, step_loss = 0;
      after_step(lr, !more, st);
      if (st.early || done()) break;
    }
  }
  evaluate_once(st);
  checkpoint_once(st);
  st.progress.finish();
  st.result.early_stopped = st.early;
  st.result.steps = step_;
  return st.result;
}

}  // namespace anneal::train
