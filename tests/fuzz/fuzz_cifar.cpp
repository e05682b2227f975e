// CIFAR-10/100 binary batches: whole records and label ranges.
#include "data/readers.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  for (auto kind : {anneal::data::CifarKind::Cifar10, anneal::data::CifarKind::Cifar100})
    anneal::fuzz::expect_anneal_error_or_success([&] { anneal::data::read_cifar({path}, kind); });
  return 0;
}
