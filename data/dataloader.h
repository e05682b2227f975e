#pragma once
// Datasets and the DataLoader. Batches and their order depend only on the seed (and the
// epoch), never on the number of worker threads; an exception in a worker reaches the
// caller with its message, and the loader stops its threads cleanly.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/sampler.h"

namespace anneal::data {

struct Batch {
  Tensor data, target;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Batch get(int64_t index) const = 0;
  // Many examples at once; the default stacks get(i). In-memory datasets gather directly.
  virtual Batch get_batch(const std::vector<int64_t>& indices) const;
};

// A stream of examples (a file read front to back, a generator), for data that is not
// randomly accessible. The DataLoader batches them in stream order.
class IterableDataset {
 public:
  virtual ~IterableDataset() = default;
  // Restarts the stream for epoch `epoch`.
  virtual void start(int64_t epoch) = 0;
  // The next example, or false at the end of the stream.
  virtual bool next(Batch& example) = 0;
};

// Examples are rows of tensors that share their first dimension.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor data, Tensor target);
  int64_t size() const override { return data_.size(0); }
  Batch get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& data() const { return data_; }
  const Tensor& target() const { return target_; }

 private:
  Tensor data_, target_;
};

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;
  uint64_t seed = 0;        // the shuffle of epoch e uses (seed, e)
  // Visiting order (weighted, distributed, ...); overrides shuffle when set.
  std::shared_ptr<Sampler> sampler;
  int num_workers = 0;      // 0: batches are built on the calling thread (a stream uses at most 1)
  int prefetch = 2;         // batches in flight per worker
  // Builds a batch from its examples (get(i) each), on the worker; unset: the dataset's
  // get_batch (stacking, or a direct gather for in-memory data; the examples must all
  // have a target or all have none).
  std::function<Batch(std::vector<Batch>)> collate;
  // Applied to each batch on the worker (augmentation, normalisation).
  std::function<Batch(Batch, uint64_t batch_seed)> transform;
  // Each batch's tensors are copied, on the worker, into page-locked host memory, from
  // which copies to a GPU are asynchronous and faster. Without a CUDA device the loader
  // says so once on stderr and hands out ordinary memory (as PyTorch does).
  bool pin_memory = false;
};

// Thrown by DataLoader::next when its wait hook reports an interruption (Ctrl-C in Python).
class Interrupted : public Error {
 public:
  using Error::Error;
};

// One loader may be used from several threads: next(), start_epoch() and skip() are
// serialised, so each batch goes to exactly one caller, in order.
class DataLoader {
 public:
  DataLoader(std::shared_ptr<Dataset> dataset, DataLoaderOptions options);
  // Batches a stream; shuffle and sampler do not apply.
  DataLoader(std::shared_ptr<IterableDataset> stream, DataLoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Batches per epoch; -1 for a stream, whose length is not known in advance.
  int64_t num_batches() const;
  // Starts epoch `epoch`; then next() returns its batches in order until it returns false.
  void start_epoch(int64_t epoch);
  bool next(Batch& out);
  // Resumes the current epoch after `batches` batches (a checkpoint's loader position).
  // The skipped batches are not built (a stream's skipped examples are read, not batched).
  void skip(int64_t batches);

  // Called about every `period` while next() waits for a worker; returning true makes
  // next() throw Interrupted (the batch it waited for stays in flight). The Python
  // package checks for signals here, so Ctrl-C reaches a script within ~100 ms.
  void set_wait_hook(std::function<bool()> interrupted, std::chrono::milliseconds period);
  // Stops the workers, waiting at most `timeout` for them (one may be inside a slow
  // __getitem__). False when some did not stop in time: they are detached and the loader
  // must then be kept alive (leaked) until the process ends. For interpreter exit.
  bool shutdown(std::chrono::milliseconds timeout);

 private:
  struct WorkerExit;
  void start_epoch_locked(int64_t epoch, int64_t first_batch);
  void launch_workers();
  bool next_locked(Batch& out);
  Batch make_batch(int64_t b) const;
  Batch transformed(Batch batch, int64_t b) const;
  bool next_from_stream(Batch& out);
  bool take_ready(Batch& out);  // the next batch from the workers, in order
  bool pull_stream_batch(Batch& out);  // false at the end of the stream
  void start_stream_worker();
  void stop_workers();

  std::shared_ptr<Dataset> dataset_;
  std::shared_ptr<IterableDataset> stream_;
  bool stream_done_ = false;
  int64_t stream_batches_ = 0;  // batches the stream produced this epoch (valid once done)
  DataLoaderOptions opt_;
  std::vector<std::vector<int64_t>> plan_;  // the indices of every batch of this epoch
  int64_t epoch_ = 0, next_batch_ = 0;
  bool started_ = false;

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  int64_t next_to_build_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  int64_t error_batch_ = -1;
  int live_workers_ = 0;  // workers that have not returned yet (for a timed shutdown)
  bool abandoned_ = false;  // shutdown() detached workers that did not stop
  bool workers_pending_ = false;  // planned epoch whose workers start at the first next()

  std::mutex api_mu_;  // serialises next / start_epoch / skip across calling threads
  std::function<bool()> wait_hook_;
  std::chrono::milliseconds wait_period_{100};
};

}  // namespace anneal::data
