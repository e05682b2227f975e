#include "distributed/coalesced.h"

#include <map>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "ops/factory.h"
#include "ops/shape.h"

namespace anneal::distributed {

void broadcast_coalesced(ProcessGroup& group, TensorList& tensors, int root) {
  if (group.size() == 1 || tensors.empty()) return;
  NoGradGuard ng;
  std::map<int, std::vector<size_t>> by_dtype;  // dtype -> indices (one device per group)
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].defined() && tensors[i].numel() > 0) by_dtype[static_cast<int>(tensors[i].dtype())].push_back(i);
  for (auto& [dt, idx] : by_dtype) {
    TensorList parts;
    for (size_t i : idx) parts.push_back(tensors[i].detach().reshape({-1}));
    Tensor flat = cat(parts, 0).contiguous();
    group.broadcast(flat, root)->wait();
    int64_t off = 0;
    for (size_t i : idx) {
      Tensor t = tensors[i];
      t.detach().copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

}  // namespace

void verify_same_parameters(ProcessGroup& group, const TensorList& params, const std::vector<std::string>& names) {
  if (group.size() == 1) return;
  std::string mine;
  for (size_t i = 0; i < params.size(); ++i)
    mine += str(i < names.size() ? names[i] : std::to_string(i), " ", dtype_name(params[i].dtype()), " ",
                params[i].shape_str(), "\n");
  const int n = group.size();
  // (on the group's device: NCCL moves GPU tensors only)
  const Device dev = group.device();
  Tensor len = tensor(std::vector<int64_t>{static_cast<int64_t>(mine.size())}).to(dev);
  Tensor lens = zeros({n}, TensorOptions(DType::Int64, dev));
  group.all_gather_into_tensor(lens, len)->wait();
  lens = lens.cpu();
  int64_t longest = 0;
  for (int r = 0; r < n; ++r) longest = std::max(longest, lens.data_ptr<int64_t>()[r]);
  Tensor bytes = zeros({longest}, DType::UInt8);
  std::copy(mine.begin(), mine.end(), bytes.data_ptr<uint8_t>());
  bytes = bytes.to(dev);
  Tensor all = zeros({n * longest}, TensorOptions(DType::UInt8, dev));
  group.all_gather_into_tensor(all, bytes)->wait();
  all = all.cpu();
  auto text = [&](int r) {
    const char* p = reinterpret_cast<const char*>(all.data_ptr<uint8_t>()) + r * longest;
    return std::string(p, static_cast<size_t>(lens.data_ptr<int64_t>()[r]));
  };
  const std::string first = text(0);
  for (int r = 1; r < n; ++r) {
    std::string other = text(r);
    if (other == first) continue;
    auto a = lines_of(first), b = lines_of(other);
    size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    std::string ra = k < a.size() ? a[k] : "nothing (it has fewer parameters)";
    std::string rb = k < b.size() ? b[k] : "nothing (it has fewer parameters)";
    throw ValueError(str("DistributedDataParallel: the ranks' models differ at parameter ", k, ": rank 0 has ", ra,
                         ", rank ", r, " has ", rb, " (", a.size(), " vs ", b.size(),
                         " parameters); every rank must build the same model"));
  }
}

}  // namespace anneal::distributed
