// IDX files (MNIST / Fashion-MNIST): header, element type, dimensions, data, gzip.
#include "data/idx.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  anneal::fuzz::expect_anneal_error_or_success([&] { anneal::data::read_idx(path); });
  return 0;
}
