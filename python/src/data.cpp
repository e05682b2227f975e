// anneal.data for Python: datasets (C++ ones and Python-defined ones), samplers, the
// DataLoader as a Python iterable, and the readers. The GIL is released while the loader
// waits for batches, so C++ workers and Python threads run in parallel; worker threads
// take the GIL only to call a Python-defined dataset.
#include <chrono>
#include <mutex>
#include <set>

#include "common.h"

namespace anneal::python {

namespace {

// A Dataset defined in Python: __len__ and __getitem__ returning a tensor or a
// (data, target) pair.
class PyDataset : public data::Dataset {
 public:
  int64_t size() const override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const data::Dataset*>(this), "__len__");
    ANNEAL_CHECK(f, NotImplementedError, "Dataset subclasses must define __len__");
    return f().cast<int64_t>();
  }
  data::Batch get(int64_t index) const override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const data::Dataset*>(this), "__getitem__");
    ANNEAL_CHECK(f, NotImplementedError, "Dataset subclasses must define __getitem__");
    py::object item = f(index);
    if (py::isinstance<Tensor>(item)) return {item.cast<Tensor>(), Tensor()};
    auto pair = item.cast<py::tuple>();
    ANNEAL_CHECK(pair.size() == 2, ValueError, "Dataset.__getitem__ must return a tensor or a (data, target) pair");
    auto as_t = [](py::handle h) {
      return py::isinstance<Tensor>(h) ? h.cast<Tensor>() : scalar_tensor(to_scalar(h, "Dataset.__getitem__"),
                                                                          py::isinstance<py::float_>(h) ? DType::Float32 : DType::Int64);
    };
    return {as_t(pair[0]), as_t(pair[1])};
  }
};

py::object batch_to_python(data::Batch b) {
  if (!b.target.defined()) return py::cast(b.data);
  return py::make_tuple(b.data, b.target);
}

class PyLoader;
// The live loaders, so that the interpreter's exit (an atexit hook) can stop their workers
// before Python is torn down under them.
std::mutex live_loaders_mu;
std::set<PyLoader*> live_loaders;

// While next() waits for a worker, Python signal handlers get a chance to run every 50 ms:
// Ctrl-C raises KeyboardInterrupt in the script instead of waiting for the batch.
bool python_signal_pending() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;  // the handler's exception stays set for next() to raise
}

// The loader as a Python iterable: each iter() starts the next epoch.
class PyLoader {
 public:
  PyLoader(py::object dataset, data::DataLoaderOptions o) : dataset_ref_(dataset) {
    if (py::isinstance<data::IterableDataset>(dataset))
      loader_ = std::make_unique<data::DataLoader>(dataset.cast<std::shared_ptr<data::IterableDataset>>(), o);
    else
      loader_ = std::make_unique<data::DataLoader>(dataset.cast<std::shared_ptr<data::Dataset>>(), o);
    loader_->set_wait_hook(python_signal_pending, std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> l(live_loaders_mu);
    live_loaders.insert(this);
  }
  ~PyLoader() {
    {
      std::lock_guard<std::mutex> l(live_loaders_mu);
      live_loaders.erase(this);
    }
    // Workers may be waiting for the GIL inside a Python dataset: let them finish.
    py::gil_scoped_release release;
    loader_.reset();
  }
  // Starts the next epoch; returns its generation (an iterator of an older one is stale).
  int64_t iter() {
    const int64_t epoch = epoch_++;
    call([&] { loader_->start_epoch(epoch); });
    return ++generation_;
  }
  py::object next(int64_t generation) {
    ANNEAL_CHECK(generation == generation_, ValueError, "DataLoader: this iterator belongs to an epoch that a later "
                 "iter() of the same loader replaced; iterate the newest one");
    data::Batch b;
    bool more = false;
    call([&] { more = loader_->next(b); });
    if (!more) throw py::stop_iteration();
    return batch_to_python(std::move(b));
  }
  // At interpreter exit: stop the workers, giving one stuck in a slow __getitem__ two
  // seconds; a loader whose workers did not stop is left allocated (they still use it).
  void shutdown() {
    if (!loader_) return;
    bool stopped;
    {
      py::gil_scoped_release release;
      stopped = loader_->shutdown(std::chrono::seconds(2));
    }
    if (!stopped) (void)loader_.release();
    else loader_.reset();
  }
  int64_t len() const {
    check_open();
    const int64_t n = loader_->num_batches();
    ANNEAL_CHECK(n >= 0, TypeError, "a DataLoader over a stream has no len()");
    return n;
  }
  void set_epoch(int64_t e) { epoch_ = e; }
  int64_t current_generation() const { return generation_; }
  void skip(int64_t batches) {
    call([&] { loader_->skip(batches); });
  }

 private:
  void check_open() const {
    ANNEAL_CHECK(loader_ != nullptr, ValueError, "DataLoader: the loader was shut down (the interpreter is exiting)");
  }
  // Runs f without the GIL; an interruption seen while waiting becomes the Python
  // exception its signal handler raised (KeyboardInterrupt for Ctrl-C).
  template <typename F>
  void call(F&& f) {
    check_open();
    bool interrupted = false;
    {
      py::gil_scoped_release release;
      try {
        f();
      } catch (const data::Interrupted&) {
        interrupted = true;
      }
    }
    if (interrupted) {
      if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw py::error_already_set();
    }
  }

  py::object dataset_ref_;  // keeps a Python-defined dataset alive
  std::unique_ptr<data::DataLoader> loader_;
  int64_t epoch_ = 0;
  int64_t generation_ = 0;
};

// What iter(loader) returns, as in PyTorch: iter() of it is itself, so a `for` over it in
// two threads shares one epoch (each batch to one of them) instead of restarting it.
struct PyLoaderIterator {
  py::object loader;  // keeps the PyLoader alive
  int64_t generation;
};

}  // namespace

void bind_data(py::module_& root) {
  py::module_ m = root.def_submodule("data", "anneal.data");
  // Called by the package's atexit hook (anneal/__init__.py), before Python tears down.
  m.def("_shutdown_loaders", [] {
    std::vector<PyLoader*> loaders;
    {
      std::lock_guard<std::mutex> l(live_loaders_mu);
      loaders.assign(live_loaders.begin(), live_loaders.end());
    }
    for (PyLoader* l : loaders) l->shutdown();
  });
  py::class_<data::Dataset, PyDataset, std::shared_ptr<data::Dataset>>(m, "Dataset")
      .def(py::init<>())
      .def("__len__", &data::Dataset::size)
      .def("__getitem__", [](const data::Dataset& d, int64_t i) { return batch_to_python(d.get(i)); });
  py::class_<data::IterableDataset, std::shared_ptr<data::IterableDataset>>(m, "IterableDataset");
  py::class_<data::TensorDataset, data::Dataset, std::shared_ptr<data::TensorDataset>>(m, "TensorDataset")
      .def(py::init<Tensor, Tensor>(), py::arg("data"), py::arg("target") = Tensor());
  py::class_<data::TextWindows, data::Dataset, std::shared_ptr<data::TextWindows>>(m, "TextWindows")
      .def(py::init<Tensor, int64_t>(), py::arg("tokens"), py::arg("context"));

  py::class_<data::Sampler, std::shared_ptr<data::Sampler>>(m, "Sampler")
      .def("indices", &data::Sampler::indices, py::arg("epoch") = 0)
      .def("__len__", &data::Sampler::size);
  py::class_<data::RandomSampler, data::Sampler, std::shared_ptr<data::RandomSampler>>(m, "RandomSampler")
      .def(py::init<int64_t, uint64_t>(), py::arg("size"), py::arg("seed") = 0);
  py::class_<data::WeightedRandomSampler, data::Sampler, std::shared_ptr<data::WeightedRandomSampler>>(
      m, "WeightedRandomSampler")
      .def(py::init<std::vector<double>, int64_t, bool, uint64_t>(), py::arg("weights"), py::arg("num_samples"),
           py::arg("replacement") = true, py::arg("seed") = 0);
  py::class_<data::DistributedSampler, data::Sampler, std::shared_ptr<data::DistributedSampler>>(m, "DistributedSampler")
      .def(py::init<int64_t, int64_t, int64_t, bool, uint64_t, bool>(), py::arg("size"), py::arg("num_replicas"),
           py::arg("rank"), py::arg("shuffle") = true, py::arg("seed") = 0, py::arg("drop_last") = false);

  py::class_<PyLoaderIterator>(m, "_DataLoaderIterator")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", [](PyLoaderIterator& it) { return it.loader.cast<PyLoader&>().next(it.generation); });
  py::class_<PyLoader>(m, "DataLoader")
      .def(py::init([](py::object dataset, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed,
                       int num_workers, int prefetch, std::shared_ptr<data::Sampler> sampler, py::object collate_fn,
                       bool pin_memory) {
        data::DataLoaderOptions o;
        o.batch_size = batch_size, o.shuffle = shuffle, o.drop_last = drop_last, o.seed = seed;
        o.num_workers = num_workers, o.prefetch = prefetch, o.sampler = std::move(sampler);
        o.pin_memory = pin_memory;
        if (!collate_fn.is_none()) {
          // Called on the worker with the GIL: a list of (data, target) pairs (or tensors)
          // in, a tensor or a (data, target) pair out.
          // (the loader may drop the function without the GIL: its deleter takes it)
          std::shared_ptr<py::object> fn(new py::object(collate_fn), [](py::object* f) {
            py::gil_scoped_acquire gil;
            delete f;
          });
          o.collate = [fn](std::vector<data::Batch> examples) {
            py::gil_scoped_acquire gil;
            py::list items;
            for (auto& e : examples) items.append(batch_to_python(std::move(e)));
            py::object r = (*fn)(items);
            if (py::isinstance<Tensor>(r)) return data::Batch{r.cast<Tensor>(), Tensor()};
            auto pair = r.cast<py::tuple>();
            ANNEAL_CHECK(pair.size() == 2, ValueError, "collate_fn must return a tensor or a (data, target) pair");
            return data::Batch{pair[0].cast<Tensor>(), pair[1].cast<Tensor>()};
          };
        }
        return std::make_unique<PyLoader>(dataset, o);
      }), py::arg("dataset"), py::arg("batch_size") = 1, py::arg("shuffle") = false, py::arg("drop_last") = false,
          py::arg("seed") = 0, py::arg("num_workers") = 0, py::arg("prefetch") = 2, py::arg("sampler") = nullptr,
          py::arg("collate_fn") = py::none(), py::arg("pin_memory") = false)
      .def("__iter__", [](py::object self) {
        return PyLoaderIterator{self, self.cast<PyLoader&>().iter()};
      })
      .def("__next__", [](py::object self) {  // next(loader) without iter(): the current epoch
        PyLoader& l = self.cast<PyLoader&>();
        return l.next(l.current_generation());
      })
      .def("__len__", &PyLoader::len)
      .def("set_epoch", &PyLoader::set_epoch)
      .def("skip", &PyLoader::skip);

  m.def("read_idx", &data::read_idx, py::call_guard<py::gil_scoped_release>());
  m.def("read_text", &data::read_text);
  m.def("read_token_shard", &data::read_token_shard, py::arg("path"), py::arg("raw_bits") = 16);
  m.def("read_cifar", [](const std::vector<std::string>& files, bool cifar100) {
    auto s = data::read_cifar(files, cifar100 ? data::CifarKind::Cifar100 : data::CifarKind::Cifar10);
    return py::make_tuple(s.images, s.labels);
  }, py::arg("files"), py::arg("cifar100") = false);
  py::class_<data::CharVocab>(m, "CharVocab")
      .def_static("from_text", &data::CharVocab::from_text, py::arg("text"), py::arg("source") = "text")
      .def_static("bytes", &data::CharVocab::bytes)
      .def("__len__", &data::CharVocab::size)
      .def("encode", &data::CharVocab::encode)
      .def("decode", &data::CharVocab::decode);
}

}  // namespace anneal::python
