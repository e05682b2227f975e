// Indexing kernels. Every index is checked; a bad one is an IndexError naming it.
#include <cstring>
#include <vector>

#include "core/tensor_impl.h"
#include "kernels/cpu/cpu_backend.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {
namespace {

void check_index(const char* op, int64_t idx, int64_t size) {
  ANNEAL_CHECK(idx >= -size && idx < size, IndexError, op, ": index ", idx, " is out of bounds for dimension with size ",
               size);
}
inline int64_t wrap(int64_t idx, int64_t size) { return idx < 0 ? idx + size : idx; }

int64_t prod(const Shape& s, int64_t from, int64_t to) {
  int64_t p = 1;
  for (int64_t i = from; i < to; ++i) p *= s[size_t(i)];
  return p;
}

// Elements of a contiguous tensor walked with their multi-index; calls f(linear, idx).
template <typename F>
void for_each_index(const Shape& shape, const F& f) {
  int64_t n = shape_numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t lin = 0; lin < n; ++lin) {
    f(lin, idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

// in, out contiguous; in viewed as [outer, size, inner], out as [outer, n, inner].
void CpuBackend::index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t outer = prod(in.sizes(), 0, dim), size = in.size(dim), inner = prod(in.sizes(), dim + 1, in.dim());
  const int64_t n = index.numel();
  const int64_t* idx = index.data_ptr<int64_t>();
  for (int64_t j = 0; j < n; ++j) check_index("index_select", idx[j], size);
  const size_t es = in.element_size();
  const char* src = static_cast<const char*>(in.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  parallel_for(outer * n, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      int64_t o = p / n, j = p % n;
      std::memcpy(dst + size_t(p * inner) * es, src + size_t((o * size + wrap(idx[j], size)) * inner) * es,
                  size_t(inner) * es);
    }
  });
}

void CpuBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t outer = prod(out.sizes(), 0, dim), size = out.size(dim), inner = prod(out.sizes(), dim + 1, out.dim());
  const int64_t n = index.numel();
  const int64_t* idx = index.data_ptr<int64_t>();
  for (int64_t j = 0; j < n; ++j) check_index("index_add", idx[j], size);
  ANNEAL_DISPATCH_NUMERIC(out.dtype(), "index_add", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    const scalar_t* s = src.data_ptr<scalar_t>();
    // Parallel over `inner` columns: rows that repeat an index never race.
    parallel_for(inner, 4096, [&](int64_t ib, int64_t ie) {
      for (int64_t oo = 0; oo < outer; ++oo)
        for (int64_t j = 0; j < n; ++j) {
          scalar_t* orow = o + (oo * size + wrap(idx[j], size)) * inner;
          const scalar_t* srow = s + (oo * n + j) * inner;
          for (int64_t i = ib; i < ie; ++i) orow[i] = scalar_t(compute_t<scalar_t>(orow[i]) + compute_t<scalar_t>(srow[i]));
        }
    });
  });
}

// in contiguous; index, out contiguous with index's shape.
void CpuBackend::gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t size = in.size(dim);
  const int64_t* idx = index.data_ptr<int64_t>();
  const Shape in_strides = contiguous_strides(in.sizes());
  ANNEAL_DISPATCH_ALL(in.dtype(), "gather", [&] {
    const scalar_t* x = in.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for_each_index(index.sizes(), [&](int64_t lin, const std::vector<int64_t>& pos) {
      int64_t v = idx[lin];
      check_index("gather", v, size);
      int64_t off = 0;
      for (size_t d = 0; d < pos.size(); ++d) off += (int64_t(d) == dim ? wrap(v, size) : pos[d]) * in_strides[d];
      o[lin] = x[off];
    });
  });
}

// out contiguous; index contiguous; src contiguous with index's shape.
void CpuBackend::scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  const int64_t size = out.size(dim);
  const int64_t* idx = index.data_ptr<int64_t>();
  const Shape out_strides = contiguous_strides(out.sizes());
  const Shape src_strides = contiguous_strides(src.sizes());
  ANNEAL_DISPATCH_ALL(out.dtype(), "scatter", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    const scalar_t* s = src.data_ptr<scalar_t>();
    for_each_index(index.sizes(), [&](int64_t lin, const std::vector<int64_t>& pos) {
      int64_t v = idx[lin];
      check_index("scatter", v, size);
      int64_t off = 0, soff = 0;
      for (size_t d = 0; d < pos.size(); ++d) {
        off += (int64_t(d) == dim ? wrap(v, size) : pos[d]) * out_strides[d];
        soff += pos[d] * src_strides[d];
      }
      if (accumulate) o[off] = scalar_t(compute_t<scalar_t>(o[off]) + compute_t<scalar_t>(s[soff]));
      else o[off] = s[soff];
    });
  });
}

Tensor CpuBackend::nonzero(const Tensor& in) {
  const int64_t n = in.numel(), nd = in.dim();
  std::vector<int64_t> hits;
  ANNEAL_DISPATCH_ALL(in.dtype(), "nonzero", [&] {
    const scalar_t* x = in.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i)
      if (compute_t<scalar_t>(x[i]) != compute_t<scalar_t>(0)) hits.push_back(i);
  });
  Tensor out = make_empty({int64_t(hits.size()), nd}, DType::Int64, cpu_allocator());
  int64_t* o = out.data_ptr<int64_t>();
  const Shape st = contiguous_strides(in.sizes());
  for (size_t h = 0; h < hits.size(); ++h) {
    int64_t rem = hits[h];
    for (int64_t d = 0; d < nd; ++d) {
      o[int64_t(h) * nd + d] = rem / st[size_t(d)];
      rem %= st[size_t(d)];
    }
  }
  return out;
}

}  // namespace anneal::cpu
