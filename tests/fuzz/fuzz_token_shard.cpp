// Token shards: llm.c's header (magic, version, count) or raw 16/32-bit tokens.
#include "data/readers.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  for (int bits : {16, 32}) anneal::fuzz::expect_anneal_error_or_success([&] { anneal::data::read_token_shard(path, bits); });
  return 0;
}
