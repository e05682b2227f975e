#pragma once
// Datasets and the DataLoader. Batches and their order depend only on the seed (and the
// epoch), never on the number of worker threads; an exception in a worker reaches the
// caller with its message, and the loader stops its threads cleanly.
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
  uint64_t seed = 0;        // the shuffle of epoch e uses seed + e
  int num_workers = 0;      // 0: batches are built on the calling thread
  int prefetch = 2;         // batches in flight per worker
  // Applied to each batch on the worker (augmentation, normalisation).
  std::function<Batch(Batch, uint64_t batch_seed)> transform;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<Dataset> dataset, DataLoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t num_batches() const;
  // Starts epoch `epoch`; then next() returns its batches in order until it returns false.
  void start_epoch(int64_t epoch);
  bool next(Batch& out);
  // Resumes the current epoch after `batches` batches (a checkpoint's loader position).
  void skip(int64_t batches);

 private:
  Batch make_batch(int64_t b) const;
  void stop_workers();

  std::shared_ptr<Dataset> dataset_;
  DataLoaderOptions opt_;
  std::vector<std::vector<int64_t>> plan_;  // the indices of every batch of this epoch
  int64_t epoch_ = 0, next_batch_ = 0;

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  int64_t next_to_build_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  int64_t error_batch_ = -1;
};

}  // namespace anneal::data
