// Checkpoint payloads behind a valid header: the input is the protobuf message and the
// header (magic, version, length, CRC-32) is computed for it, so the fuzzer reaches the
// protobuf parse and the validation behind it instead of stopping at the checksum. Loaded
// checkpoints are also restored into a small model with each optimizer.
#include <zlib.h>

#include "fuzz_file.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "train/checkpoint.h"

namespace {
template <typename T> void put(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out += char((uint64_t(v) >> (8 * i)) & 0xFF);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string file("ANNEALCK", 8);
  put<uint32_t>(file, 1);
  put<uint64_t>(file, size);
  put<uint32_t>(file, uint32_t(crc32(crc32(0L, Z_NULL, 0), data, uInt(size))));
  file.append(reinterpret_cast<const char*>(data), size);
  const std::string& path = anneal::fuzz::write_input(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  anneal::fuzz::expect_anneal_error_or_success([&] {
    anneal::train::Checkpoint c = anneal::train::load_checkpoint(path);
    anneal::nn::Linear model(3, 2);
    anneal::optim::Adam adam(model.parameters());
    anneal::fuzz::expect_anneal_error_or_success([&] {
      anneal::train::restore(c, model, &adam);
      adam.step();
    });
    anneal::optim::SGD sgd(model.parameters(), 0.1, 0.9);
    anneal::fuzz::expect_anneal_error_or_success([&] {
      anneal::train::restore(c, model, &sgd);
      sgd.step();
    });
  });
  return 0;
}
