#pragma once
// A vector of trivially copyable values that keeps its first N elements inline. Shapes
// and strides almost never exceed 6 dims, so tensor metadata costs no heap allocation
// (a malloc/free pair per shape was a third of the per-op overhead).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <new>
#include <type_traits>

namespace anneal {

template <typename T, size_t N>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVector holds trivially copyable values");

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using size_type = size_t;

  SmallVector() = default;
  SmallVector(size_t n, const T& v = T()) { assign_fill(n, v); }
  SmallVector(std::initializer_list<T> il) { assign_range(il.begin(), il.end()); }
  template <typename It, typename = typename std::iterator_traits<It>::iterator_category>
  SmallVector(It first, It last) {
    assign_range(first, last);
  }
  SmallVector(const SmallVector& o) { assign_range(o.begin(), o.end()); }
  SmallVector(SmallVector&& o) noexcept { take(std::move(o)); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) assign_range(o.begin(), o.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& o) noexcept {
    if (this != &o) {
      release();
      take(std::move(o));
    }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> il) {
    assign_range(il.begin(), il.end());
    return *this;
  }
  ~SmallVector() { release(); }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return ptr_[i]; }
  const T& operator[](size_t i) const { return ptr_[i]; }
  T& back() { return ptr_[size_ - 1]; }
  const T& back() const { return ptr_[size_ - 1]; }
  T& front() { return ptr_[0]; }
  const T& front() const { return ptr_[0]; }
  iterator begin() { return ptr_; }
  iterator end() { return ptr_ + size_; }
  const_iterator begin() const { return ptr_; }
  const_iterator end() const { return ptr_ + size_; }

  void clear() { size_ = 0; }
  // Grows the buffer keeping the elements (the old buffer is freed only after the copy).
  void reserve(size_t n) {
    if (n <= cap_) return;
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    T* p = static_cast<T*>(std::malloc(n * sizeof(T)));
    if (!p) throw std::bad_alloc();
    if (size_) std::memcpy(p, ptr_, size_ * sizeof(T));
    if (!is_inline()) std::free(ptr_);
    ptr_ = p;
    cap_ = n;
  }
  void resize(size_t n, const T& v = T()) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) ptr_[i] = v;
    size_ = n;
  }
  void push_back(const T& v) {
    if (size_ == cap_) {
      T copy = v;  // v may live in this vector
      reserve(grown(size_ + 1));
      ptr_[size_++] = copy;
      return;
    }
    ptr_[size_++] = v;
  }
  void pop_back() { --size_; }
  iterator insert(const_iterator pos, const T& v) {
    size_t i = size_t(pos - ptr_);
    T copy = v;
    if (size_ == cap_) reserve(grown(size_ + 1));
    std::memmove(ptr_ + i + 1, ptr_ + i, (size_ - i) * sizeof(T));
    ptr_[i] = copy;
    ++size_;
    return ptr_ + i;
  }
  template <typename It, typename = typename std::iterator_traits<It>::iterator_category>
  iterator insert(const_iterator pos, It first, It last) {
    size_t i = size_t(pos - ptr_);
    size_t n = size_t(std::distance(first, last));
    SmallVector tmp(first, last);  // the range may alias this vector
    if (size_ + n > cap_) reserve(grown(size_ + n));
    std::memmove(ptr_ + i + n, ptr_ + i, (size_ - i) * sizeof(T));
    if (n) std::memcpy(ptr_ + i, tmp.data(), n * sizeof(T));
    size_ += n;
    return ptr_ + i;
  }
  iterator insert(const_iterator pos, std::initializer_list<T> il) { return insert(pos, il.begin(), il.end()); }
  iterator erase(const_iterator pos) {
    size_t i = size_t(pos - ptr_);
    std::memmove(ptr_ + i, ptr_ + i + 1, (size_ - i - 1) * sizeof(T));
    --size_;
    return ptr_ + i;
  }
  template <typename It>
  void assign(It first, It last) {
    assign_range(first, last);
  }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const SmallVector& a, const SmallVector& b) { return !(a == b); }

 private:
  bool is_inline() const { return ptr_ == inline_; }
  // Capacity for at least `need` elements: doubling, so pushes are amortised O(1).
  size_t grown(size_t need) const { return std::max(need, cap_ * 2); }
  void release() {
    if (!is_inline()) std::free(ptr_);
    ptr_ = inline_;
    cap_ = N;
    size_ = 0;
  }
  void take(SmallVector&& o) {
    if (o.is_inline()) {
      std::memcpy(inline_, o.inline_, o.size_ * sizeof(T));
      ptr_ = inline_;
      cap_ = N;
    } else {
      ptr_ = o.ptr_;
      cap_ = o.cap_;
      o.ptr_ = o.inline_;
      o.cap_ = N;
    }
    size_ = o.size_;
    o.size_ = 0;
  }
  template <typename It>
  void assign_range(It first, It last) {
    size_t n = size_t(std::distance(first, last));
    if (n > cap_) {
      // a longer range cannot alias this vector: drop the old elements, then grow
      size_ = 0;
      reserve(n);
    }
    size_t i = 0;
    for (It it = first; it != last; ++it) ptr_[i++] = T(*it);
    size_ = n;
  }
  void assign_fill(size_t n, const T& v) {
    reserve(n);
    for (size_t i = 0; i < n; ++i) ptr_[i] = v;
    size_ = n;
  }

  T inline_[N];
  T* ptr_ = inline_;
  size_t size_ = 0;
  size_t cap_ = N;
};

}  // namespace anneal
