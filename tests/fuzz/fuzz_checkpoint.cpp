// Checkpoint files as they are on disk: magic, version, length, CRC, payload.
#include "fuzz_file.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  anneal::fuzz::expect_anneal_error_or_success([&] { anneal::train::load_checkpoint(path); });
  return 0;
}
