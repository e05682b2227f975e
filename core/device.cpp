#include "core/device.h"

#include <cctype>

#include "core/error.h"

namespace anneal {

Device::Device(const std::string& spec) {
  if (spec == "cpu") return;
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    if (spec.size() == 4) return;
    bool ok = spec.size() > 5 && spec[4] == ':';
    for (size_t i = 5; ok && i < spec.size(); ++i) ok = std::isdigit(static_cast<unsigned char>(spec[i]));
    ANNEAL_CHECK(ok && spec.size() < 12, DeviceError, "invalid device string '", spec,
                 "': expected 'cpu', 'cuda' or 'cuda:N'");
    index = std::stoi(spec.substr(5));
    return;
  }
  throw DeviceError(anneal::str("invalid device string '", spec, "': expected 'cpu', 'cuda' or 'cuda:N'"));
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

}  // namespace anneal
