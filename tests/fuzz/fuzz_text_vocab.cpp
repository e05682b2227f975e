// Text: UTF-8 decoding into a character vocabulary, encode/decode round trip, windows.
#include "data/readers.h"
#include "fuzz_file.h"
#include "ops/ops.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  anneal::fuzz::expect_anneal_error_or_success([&] {
    const std::string text = anneal::data::read_text(path);
    auto vocab = anneal::data::CharVocab::from_text(text, path);
    anneal::Tensor ids = vocab.encode(text);
    // a text that decodes must encode back to exactly its bytes
    if (vocab.decode(ids) != text) std::abort();
    if (ids.numel() > 4) {
      anneal::data::TextWindows w(ids, 3);
      w.get_batch({0, w.size() - 1});
    }
  });
  return 0;
}
