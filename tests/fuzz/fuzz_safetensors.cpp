// safetensors: header length, the JSON header, every field, offsets, data.
#include "fuzz_file.h"
#include "nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  anneal::fuzz::expect_anneal_error_or_success([&] { anneal::nn::load_safetensors(path); });
  return 0;
}
