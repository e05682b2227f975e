#include "train/checkpoint.h"

#include <zlib.h>

#include <cstring>
#include <set>
#include <fstream>
#include <iterator>

#include "core/atomic_file.h"
#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/read_file.h"
#include "core/utf8.h"
#include "core/checked_size.h"
#include "core/generator.h"
#include "core/tensor_impl.h"
#include "ops/ops.h"

#ifdef ANNEAL_WITH_PROTOBUF
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "proto/checkpoint.pb.h"
#endif

namespace anneal::train {

namespace {
// File layout: "ANNEALCK" | uint32 format version | uint64 payload bytes | uint32 CRC-32
// of the payload | payload (a serialized anneal.proto.Checkpoint). Little-endian.
constexpr char kMagic[8] = {'A', 'N', 'N', 'E', 'A', 'L', 'C', 'K'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 4;

template <typename T> void put(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out += char((uint64_t(v) >> (8 * i)) & 0xFF);
}
template <typename T> T get(const char* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return T(v);
}
uint32_t crc_of(const std::string& s) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < s.size(); off += 1u << 30) {
    size_t n = std::min<size_t>(s.size() - off, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(s.data() + off), uInt(n));
  }
  return uint32_t(crc);
}
}  // namespace

#ifdef ANNEAL_WITH_PROTOBUF
namespace {
void to_proto(const std::string& name, const Tensor& t, proto::TensorData* out) {
  Tensor c = t.detach().cpu().contiguous();
  out->set_name(name);
  out->set_dtype(dtype_name(c.dtype()));
  for (int64_t d = 0; d < c.dim(); ++d) out->add_shape(c.size(d));
  out->set_data(static_cast<const char*>(c.data_ptr()), c.nbytes());
}
Tensor from_proto(const proto::TensorData& p, const std::string& path) {
  DType dtype;
  try {
    dtype = dtype_from_name(p.dtype());
  } catch (const TypeError&) {
    throw ValueError(str("load_checkpoint: '", path, "': tensor '", p.name(), "' has unknown dtype '", p.dtype(), "'"));
  }
  Shape shape;
  for (int64_t s : p.shape()) {
    ANNEAL_CHECK(s >= 0, ValueError, "load_checkpoint: '", path, "': tensor '", p.name(), "' has negative size ", s);
    shape.push_back(s);
  }
  int64_t n = 0;
  size_t want = 0;
  try {
    n = checked_numel(shape, "load_checkpoint");
    want = checked_nbytes(n, element_size(dtype), "load_checkpoint");
  } catch (const Error&) {
    throw ValueError(str("load_checkpoint: '", path, "': tensor '", p.name(), "' declares shape ",
                         shape_to_string(shape), ", larger than any tensor can be"));
  }
  // the data is already in memory: its size, not the declared shape, bounds what is allocated
  ANNEAL_CHECK(p.data().size() == want, ValueError, "load_checkpoint: '", path, "': tensor '", p.name(),
               "' of shape ", shape_to_string(shape), " and dtype ", p.dtype(), " needs ", want,
               " bytes, the file has ", p.data().size());
  if (dtype == DType::Bool)
    for (size_t i = 0; i < want; ++i)
      ANNEAL_CHECK(uint8_t(p.data()[i]) <= 1, ValueError, "load_checkpoint: '", path, "': bool tensor '", p.name(),
                   "' holds byte ", int(uint8_t(p.data()[i])), " at element ", i, " (expected 0 or 1)");
  Tensor t = empty(shape, dtype);
  if (n) std::memcpy(t.data_ptr(), p.data().data(), p.data().size());
  return t;
}
}  // namespace

bool checkpoints_available() { return true; }

// protobuf's string fields must be UTF-8: a save with any other bytes would succeed and
// write a file that does not load, so it is refused here, naming the string.
static void check_utf8(const std::string& path, const char* what, const std::string& s) {
  const size_t bad = first_invalid_utf8(s);
  ANNEAL_CHECK(bad == std::string::npos, ValueError, "save_checkpoint: '", path, "': the ", what, " '", s,
               "' is not valid UTF-8 (at byte ", bad, ")");
}
template <typename Map>
static void check_keys_utf8(const std::string& path, const char* what, const Map& m) {
  for (auto& kv : m) check_utf8(path, what, kv.first);
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  for (auto& [name, t] : c.model) check_utf8(path, "model tensor name", name);
  check_utf8(path, "optimizer type", c.optimizer_type);
  for (auto& g : c.optimizer.groups) check_keys_utf8(path, "optimizer option", g);
  for (auto& [i, st] : c.optimizer.state) check_keys_utf8(path, "optimizer state name", st);
  check_keys_utf8(path, "scheduler key", c.scheduler);
  check_keys_utf8(path, "grad scaler key", c.grad_scaler);
  check_keys_utf8(path, "extra key", c.extra);
  check_keys_utf8(path, "metadata key", c.metadata);
  for (auto& [k, v] : c.metadata) check_utf8(path, "metadata value", v);
  check_utf8(path, "config", c.config);
  proto::Checkpoint p;
  for (auto& [name, t] : c.model) to_proto(name, t, p.add_model());
  auto* o = p.mutable_optimizer();
  o->set_type(c.optimizer_type);
  for (auto& g : c.optimizer.groups) o->add_groups()->mutable_options()->insert(g.begin(), g.end());
  for (auto& [index, tensors] : c.optimizer.state) {
    auto* ps = o->add_state();
    ps->set_index(index);
    for (auto& [k, t] : tensors) to_proto(k, t, ps->add_tensors());
  }
  p.mutable_scheduler()->insert(c.scheduler.begin(), c.scheduler.end());
  p.mutable_grad_scaler()->insert(c.grad_scaler.begin(), c.grad_scaler.end());
  p.mutable_rng()->set_seed(c.rng_seed);
  p.mutable_rng()->set_offset(c.rng_offset);
  p.set_step(c.step);
  p.set_epoch(c.epoch);
  p.set_batch_in_epoch(c.batch_in_epoch);
  p.set_config(c.config);
  p.mutable_metadata()->insert(c.metadata.begin(), c.metadata.end());
  p.mutable_extra()->insert(c.extra.begin(), c.extra.end());

  // Deterministic map order: the same state always gives the same bytes.
  std::string payload;
  {
    google::protobuf::io::StringOutputStream sos(&payload);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    ANNEAL_CHECK(p.SerializeToCodedStream(&cos), ValueError, "save_checkpoint: cannot serialize the checkpoint for '",
                 path, "' (over protobuf's 2 GiB message limit?)");
  }
  std::string header(kMagic, 8);
  put<uint32_t>(header, kFormatVersion);
  put<uint64_t>(header, payload.size());
  put<uint32_t>(header, crc_of(payload));
  write_file_atomically(
      path,
      [&](std::ostream& f) {
        f.write(header.data(), std::streamsize(header.size()));
        f.write(payload.data(), std::streamsize(payload.size()));
      },
      "save_checkpoint");
}

Checkpoint load_checkpoint(const std::string& path) {
  std::string blob = read_whole_file(path, "load_checkpoint");
  ANNEAL_CHECK(blob.size() >= kHeaderBytes && std::memcmp(blob.data(), kMagic, 8) == 0, ValueError,
               "load_checkpoint: '", path, "' is not an anneal checkpoint (", blob.size(),
               " bytes, expected the magic 'ANNEALCK' at the start)");
  const auto version = get<uint32_t>(blob.data() + 8);
  ANNEAL_CHECK(version == kFormatVersion, ValueError, "load_checkpoint: '", path, "' has format version ", version,
               ", this build reads version ", kFormatVersion);
  const auto size = get<uint64_t>(blob.data() + 12);
  const auto crc = get<uint32_t>(blob.data() + 20);
  ANNEAL_CHECK(blob.size() - kHeaderBytes == size, ValueError, "load_checkpoint: '", path, "' is truncated or padded: ",
               "the header announces ", size, " bytes of payload, the file has ", blob.size() - kHeaderBytes);
  std::string payload = blob.substr(kHeaderBytes);
  blob.clear();
  ANNEAL_CHECK(crc_of(payload) == crc, ValueError, "load_checkpoint: '", path,
               "' is corrupted: the CRC-32 of its payload does not match the header");
  proto::Checkpoint p;
  bool parsed;
  {
    google::protobuf::LogSilencer quiet;  // a bad file is our ValueError, not protobuf's log lines
    parsed = p.ParseFromString(payload);
  }
  ANNEAL_CHECK(parsed, ValueError, "load_checkpoint: '", path,
               "' has a valid checksum but its payload does not parse as a checkpoint");

  Checkpoint c;
  std::set<std::string> names;
  for (auto& t : p.model()) {
    ANNEAL_CHECK(names.insert(t.name()).second, ValueError, "load_checkpoint: '", path, "': model tensor '", t.name(),
                 "' appears twice");
    c.model.emplace_back(t.name(), from_proto(t, path));
  }
  c.optimizer_type = p.optimizer().type();
  for (auto& g : p.optimizer().groups()) c.optimizer.groups.emplace_back(g.options().begin(), g.options().end());
  for (auto& ps : p.optimizer().state()) {
    ANNEAL_CHECK(ps.index() >= 0 && !c.optimizer.state.count(ps.index()), ValueError, "load_checkpoint: '", path,
                 "': optimizer state of parameter ", ps.index(), ps.index() < 0 ? " has a negative index" : " appears twice");
    auto& dst = c.optimizer.state[ps.index()];
    for (auto& t : ps.tensors()) {
      ANNEAL_CHECK(!dst.count(t.name()), ValueError, "load_checkpoint: '", path, "': optimizer state '", t.name(),
                   "' of parameter ", ps.index(), " appears twice");
      dst[t.name()] = from_proto(t, path);
    }
  }
  c.scheduler.insert(p.scheduler().begin(), p.scheduler().end());
  c.grad_scaler.insert(p.grad_scaler().begin(), p.grad_scaler().end());
  c.rng_seed = p.rng().seed();
  c.rng_offset = p.rng().offset();
  c.step = p.step();
  c.epoch = p.epoch();
  c.batch_in_epoch = p.batch_in_epoch();
  c.config = p.config();
  c.metadata.insert(p.metadata().begin(), p.metadata().end());
  c.extra.insert(p.extra().begin(), p.extra().end());
  return c;
}
#else
bool checkpoints_available() { return false; }
void save_checkpoint(const std::string&, const Checkpoint&) {
  throw NotImplementedError("save_checkpoint: this build of anneal has no protobuf (install libprotobuf-dev and "
                            "protobuf-compiler, then rebuild)");
}
Checkpoint load_checkpoint(const std::string&) {
  throw NotImplementedError("load_checkpoint: this build of anneal has no protobuf (install libprotobuf-dev and "
                            "protobuf-compiler, then rebuild)");
}
#endif

Checkpoint capture(const nn::Module& model, const optim::Optimizer* optimizer) {
  Checkpoint c;
  for (auto& [k, t] : model.state_dict()) c.model.emplace_back(k, t.detach().clone());
  if (optimizer) {
    c.optimizer_type = optimizer->name();
    c.optimizer = optimizer->state_dict();
  }
  c.rng_seed = default_generator().seed();
  c.rng_offset = default_generator().offset();
  return c;
}

void restore(const Checkpoint& c, nn::Module& model, optim::Optimizer* optimizer) {
  if (optimizer) {
    ANNEAL_CHECK(c.optimizer_type == optimizer->name(), ValueError, "restore: the checkpoint holds ",
                 c.optimizer_type.empty() ? std::string("no optimizer state") : c.optimizer_type + " state",
                 ", the optimizer is ", optimizer->name());
  }
  // the optimizer state is checked whole before the model changes: a checkpoint that
  // cannot be resumed leaves model and optimizer as they were
  if (optimizer) optimizer->check_state_dict(c.optimizer);
  model.load_state_dict(c.model);
  if (optimizer) optimizer->load_state_dict(c.optimizer);
  default_generator().set_state(c.rng_seed, c.rng_offset);
}

}  // namespace anneal::train
