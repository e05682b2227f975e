// One rank of the multi-process tests (tests/distributed/test_distributed.py starts N of
// these with the launcher's variables set). Each scenario checks itself against a
// reference computed in this process and exits non-zero on a mismatch, printing why.
//
//   dist_worker collectives            every collective, sizes 0/1/odd/above a bucket, every dtype
//   dist_worker ddp MODEL [opts]       DDP steps == one process on the global batch (mlp, mlp64, cnn, gpt)
//   dist_worker nosync | unused | unused_ok | mismatch | twice | order_mismatch
//   dist_worker train_forever          steps until killed (the fault tests kill or stop a peer)
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <thread>

#include "anneal.h"

using namespace anneal;
namespace dist = anneal::distributed;

namespace {

int g_rank = 0, g_world = 1;

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "rank " << g_rank << ": FAIL " << why << std::endl;
  std::exit(1);
}

void expect(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// Every value the collectives see is exact in every dtype (small integers and halves).
double value(int rank, int64_t i, DType dt) {
  if (dt == DType::Bool) return (rank + i) % 2 == 0 ? 1 : 0;
  if (dt == DType::UInt8) return rank + i % 3;
  if (is_floating(dt)) return (rank + 1) * 0.5 + static_cast<double>(i % 7);
  return (rank + 1) + i % 5;
}

Tensor filled(int rank, int64_t n, DType dt, int64_t offset = 0) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = value(rank, i + offset, dt);
  return tensor(v, {n}, DType::Float64).to(dt);
}

std::vector<double> as_doubles(const Tensor& t) {
  Tensor d = t.to(DType::Float64).contiguous();
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

double tolerance(DType dt) { return dt == DType::Float16 || dt == DType::BFloat16 ? 1e-2 : 1e-6; }

void compare(const Tensor& got, const std::vector<double>& want, DType dt, const std::string& what) {
  auto g = as_doubles(got);
  expect(g.size() == want.size(), what + ": size " + std::to_string(g.size()) + " != " + std::to_string(want.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    double tol = tolerance(dt) * std::max(1.0, std::abs(want[i]));
    if (!(std::abs(g[i] - want[i]) <= tol))
      fail(str(what, ": element ", i, " is ", g[i], ", expected ", want[i]));
  }
}

double reduce_ref(dist::ReduceOp op, DType dt, int64_t i, int64_t offset = 0) {
  double acc = value(0, i + offset, dt);
  for (int r = 1; r < g_world; ++r) {
    double v = value(r, i + offset, dt);
    switch (op) {
      case dist::ReduceOp::Sum:
      case dist::ReduceOp::Avg: acc += v; break;
      case dist::ReduceOp::Product: acc *= v; break;
      case dist::ReduceOp::Max: acc = std::max(acc, v); break;
      case dist::ReduceOp::Min: acc = std::min(acc, v); break;
    }
  }
  if (op == dist::ReduceOp::Avg) acc /= g_world;
  if (dt == DType::Bool) acc = acc != 0 ? 1 : 0;
  return acc;
}

int collectives() {
  auto pg = dist::default_group();
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                          DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};
  const int64_t sizes[] = {0, 1, 1001, 300007};  // 300007 float32: above the 1 MiB first bucket
  int checks = 0;
  for (DType dt : dtypes) {
    for (int64_t n : sizes) {
      std::string at = str(dtype_name(dt), " n=", n);
      for (auto op : {dist::ReduceOp::Sum, dist::ReduceOp::Max, dist::ReduceOp::Min, dist::ReduceOp::Product,
                      dist::ReduceOp::Avg}) {
        if (op == dist::ReduceOp::Avg && !is_floating(dt)) continue;
        if (op == dist::ReduceOp::Product && (dt == DType::UInt8 || dt == DType::Float16 || dt == DType::BFloat16) && n > 1)
          continue;  // products overflow / round in narrow types
        Tensor t = filled(g_rank, n, dt);
        pg->all_reduce(t, op)->wait();
        std::vector<double> want(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) want[static_cast<size_t>(i)] = reduce_ref(op, dt, i);
        compare(t, want, dt, str("all_reduce(", dist::reduce_op_name(op), ") ", at));
        ++checks;
      }
      const int root = g_world - 1;
      Tensor b = filled(g_rank, n, dt);
      pg->broadcast(b, root)->wait();
      compare(b, as_doubles(filled(root, n, dt)), dt, "broadcast " + at);
      Tensor gathered = zeros({g_world * n}, dt);
      pg->all_gather_into_tensor(gathered, filled(g_rank, n, dt))->wait();
      std::vector<double> want;
      for (int r = 0; r < g_world; ++r)
        for (double v : as_doubles(filled(r, n, dt))) want.push_back(v);
      compare(gathered, want, dt, "all_gather_into_tensor " + at);
      TensorList outs;
      for (int r = 0; r < g_world; ++r) outs.push_back(zeros({n}, dt));
      pg->all_gather(outs, filled(g_rank, n, dt))->wait();
      for (int r = 0; r < g_world; ++r) compare(outs[r], as_doubles(filled(r, n, dt)), dt, str("all_gather[", r, "] ", at));
      if (dt != DType::Bool) {
        Tensor in = filled(g_rank, n * g_world, dt);
        Tensor out = zeros({n}, dt);
        pg->reduce_scatter_tensor(out, in, dist::ReduceOp::Sum)->wait();
        std::vector<double> rs(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) rs[static_cast<size_t>(i)] = reduce_ref(dist::ReduceOp::Sum, dt, i, g_rank * n);
        compare(out, rs, dt, "reduce_scatter " + at);
        TensorList ins;
        for (int r = 0; r < g_world; ++r) ins.push_back(filled(g_rank, n, dt, r * n));
        Tensor out2 = zeros({n}, dt);
        pg->reduce_scatter(out2, ins, dist::ReduceOp::Sum)->wait();
        compare(out2, rs, dt, "reduce_scatter(list) " + at);
      }
      checks += 4;
    }
  }
  pg->barrier()->wait();
  // point to point around the ring
  if (g_world > 1) {
    Tensor out = filled(g_rank, 77, DType::Float32);
    Tensor in = zeros({77}, DType::Float32);
    const int next = (g_rank + 1) % g_world, prev = (g_rank + g_world - 1) % g_world;
    auto s = pg->send(out, next, 3);
    auto r = pg->recv(in, prev, 3);
    s->wait();
    r->wait();
    compare(in, as_doubles(filled(prev, 77, DType::Float32)), DType::Float32, "send/recv");
  }
  // clear errors on bad arguments
  auto throws = [&](const std::function<void()>& f, const std::string& needle, const std::string& what) {
    try {
      f();
    } catch (const std::exception& e) {
      expect(std::string(e.what()).find(needle) != std::string::npos,
             what + ": message '" + e.what() + "' lacks '" + needle + "'");
      return;
    }
    fail(what + ": no error");
  };
  Tensor ints = zeros({4}, DType::Int64);
  throws([&] { pg->all_reduce(ints, dist::ReduceOp::Avg); }, "AVG needs a floating", "avg of ints");
  Tensor nc = zeros({4, 4}).transpose(0, 1);
  throws([&] { pg->all_reduce(nc); }, "contiguous", "non-contiguous");
  Tensor small = zeros({3});
  Tensor big = zeros({3 * g_world + 1});
  throws([&] { pg->all_gather_into_tensor(big, small); }, "expected", "all_gather sizes");
  throws([&] { pg->broadcast(small, g_world); }, "not in this group", "broadcast root");
  // async: several in flight, completed in order
  std::vector<dist::WorkPtr> works;
  std::vector<Tensor> ts;
  for (int k = 0; k < 8; ++k) {
    ts.push_back(full({1000}, static_cast<double>(k + g_rank)));
    works.push_back(pg->all_reduce(ts.back()));
  }
  for (int k = 0; k < 8; ++k) {
    works[k]->wait();
    std::vector<double> want(1000, k * g_world + g_world * (g_world - 1) / 2.0);
    compare(ts[k], want, DType::Float32, str("async all_reduce ", k));
    expect(works[k]->is_success(), "work reports success");
  }
  // a sub-group of the ranks other than 0
  if (g_world >= 3) {
    std::vector<int> members;
    for (int r = 1; r < g_world; ++r) members.push_back(r);
    auto sub = dist::new_group(members);
    if (g_rank == 0) {
      expect(sub == nullptr, "rank 0 is not in the sub-group");
    } else {
      expect(sub && sub->size() == g_world - 1 && sub->rank() == g_rank - 1, "sub-group rank and size");
      Tensor t = full({5}, static_cast<double>(g_rank));
      sub->all_reduce(t)->wait();
      double want = 0;
      for (int r = 1; r < g_world; ++r) want += r;
      compare(t, std::vector<double>(5, want), DType::Float32, "sub-group all_reduce");
    }
  }
  pg->barrier()->wait();
  std::cout << "rank " << g_rank << ": collectives ok (" << checks << " checks)" << std::endl;
  return 0;
}

// ---- DDP against one process ----

struct Problem {
  std::function<std::shared_ptr<nn::Module>()> make;
  Tensor x, y;  // the global batch
  bool tokens = false;
  double tol = 1e-5;
  bool per_shard_reference = false;  // batch norm: the reference reproduces per-replica statistics
};

Tensor loss_of(nn::Module& m, const Tensor& x, const Tensor& y, bool tokens) {
  Tensor out = m(x);
  if (tokens) return cross_entropy(out.reshape({-1, out.size(-1)}), y.reshape({-1}));
  return cross_entropy(out, y);
}

Problem problem(const std::string& name, int64_t global_batch) {
  Problem p;
  Generator gen(1234);
  if (name == "mlp" || name == "mlp64") {
    const DType dt = name == "mlp64" ? DType::Float64 : DType::Float32;
    p.make = [dt] {
      auto m = std::make_shared<nn::MLP>(std::vector<int64_t>{20, 64, 48, 5});
      m->to(dt);
      return m;
    };
    p.x = randn({global_batch, 20}, TensorOptions(dt, kCPU), &gen);
    p.y = randint(0, 5, {global_batch}, DType::Int64, &gen);
    p.tol = dt == DType::Float64 ? 1e-10 : 1e-5;
  } else if (name == "cnn") {
    p.make = [] {
      nn::SmallCNNOptions o;
      o.image_size = 12;
      o.channels = {4, 8};
      o.hidden = 16;
      o.batch_norm = true;
      return std::make_shared<nn::SmallCNN>(o);
    };
    p.x = randn({global_batch, 1, 12, 12}, TensorOptions(DType::Float32, kCPU), &gen);
    p.y = randint(0, 10, {global_batch}, DType::Int64, &gen);
    p.per_shard_reference = true;
  } else if (name == "gpt") {
    p.make = [] {
      nn::GPTConfig c;
      c.vocab_size = 32;
      c.context = 16;
      c.n_layer = 2;
      c.n_head = 2;
      c.d_model = 32;
      return std::make_shared<nn::GPT>(c);
    };
    p.x = randint(0, 32, {global_batch, 16}, DType::Int64, &gen);
    p.y = randint(0, 32, {global_batch, 16}, DType::Int64, &gen);
    p.tokens = true;
  } else {
    fail("unknown model " + name);
  }
  return p;
}

// Parameters on every rank; buffers only on rank 0 (the others' buffers are their own
// until the next forward broadcasts rank 0's).
double max_diff(nn::Module& a, nn::Module& b) {
  auto pa = g_rank == 0 ? a.state_dict() : a.named_parameters(), pb = g_rank == 0 ? b.state_dict() : b.named_parameters();
  expect(pa.size() == pb.size(), "state sizes differ");
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    auto da = as_doubles(pa[i].second), db = as_doubles(pb[i].second);
    for (size_t k = 0; k < da.size(); ++k) worst = std::max(worst, std::abs(da[k] - db[k]));
  }
  return worst;
}

int ddp(const std::string& model, double bucket_cap_mb, bool as_view, int steps, const std::string& hook) {
  const int64_t per_rank = 6, global = per_rank * g_world;
  Problem p = problem(model, global);
  manual_seed(100);
  auto reference = p.make();  // rank 0's initial weights
  manual_seed(100 + g_rank);  // the other ranks start elsewhere: DDP must copy rank 0's
  auto local = p.make();
  dist::DDPOptions o;
  o.bucket_cap_mb = bucket_cap_mb;
  o.gradient_as_bucket_view = as_view;
  auto model_ddp = std::make_shared<dist::DistributedDataParallel>(local, nullptr, o);
  if (hook == "fp16") model_ddp->register_comm_hook(dist::fp16_compress_hook());
  if (hook == "bf16") model_ddp->register_comm_hook(dist::bf16_compress_hook());
  expect(max_diff(*local, *reference) == 0, "after construction every rank holds rank 0's parameters");
  // Adam divides by the gradient's size, which makes a compressed gradient's rounding a full step
  const bool adam = (model == "mlp" || model == "mlp64") && hook.empty();
  std::unique_ptr<optim::Optimizer> opt_a, opt_b;
  if (adam) {
    opt_a = std::make_unique<optim::Adam>(model_ddp->parameters(), 1e-2);
    opt_b = std::make_unique<optim::Adam>(reference->parameters(), 1e-2);
  } else {
    opt_a = std::make_unique<optim::SGD>(model_ddp->parameters(), 0.05, 0.9);
    opt_b = std::make_unique<optim::SGD>(reference->parameters(), 0.05, 0.9);
  }
  const double tol = hook.empty() ? p.tol : 5e-3;
  for (int step = 0; step < steps; ++step) {
    // a different global batch each step: rotate the rows
    Tensor x = cat({p.x.narrow(0, step % global, global - step % global), p.x.narrow(0, 0, step % global)});
    Tensor y = cat({p.y.narrow(0, step % global, global - step % global), p.y.narrow(0, 0, step % global)});
    opt_a->zero_grad();
    Tensor mine = loss_of(*model_ddp, x.narrow(0, g_rank * per_rank, per_rank), y.narrow(0, g_rank * per_rank, per_rank),
                          p.tokens);
    mine.backward();
    opt_a->step();

    opt_b->zero_grad();
    if (p.per_shard_reference) {
      // one process, the replicas' way: each shard's mean loss with its own batch
      // statistics, gradients averaged, running statistics from shard 0 only
      nn::StateDict saved;
      for (int r = 0; r < g_world; ++r) {
        if (r == 1)
          for (auto& [name, t] : reference->named_buffers()) saved.push_back({name, t.clone()});
        Tensor l = loss_of(*reference, x.narrow(0, r * per_rank, per_rank), y.narrow(0, r * per_rank, per_rank), false);
        (l / static_cast<double>(g_world)).backward();
      }
      if (g_world > 1) {
        NoGradGuard ng;
        auto named = reference->named_buffers();
        for (auto& [name, buf] : named)
          for (auto& [sname, sv] : saved)
            if (sname == name) buf.copy_(sv);
      }
    } else {
      loss_of(*reference, x, y, p.tokens).backward();
    }
    opt_b->step();
    double d = max_diff(*local, *reference);
    std::cout << "rank " << g_rank << " step " << step << " max |ddp - single| = " << d << std::endl;
    if (!(d <= tol)) fail(str(model, ": step ", step, " differs from one process by ", d, " (tolerance ", tol, ")"));
  }
  expect(model_ddp->reducer().rebuilt(), "buckets were rebuilt after the first iteration");
  std::cout << "rank " << g_rank << ": ddp " << model << " ok, " << model_ddp->reducer().bucket_indices().size()
            << " buckets" << std::endl;
  return 0;
}

int nosync() {
  // accumulation of 3 micro-batches (2 under no_sync) equals one step on all of them
  Problem p = problem("mlp64", 6 * g_world * 3);
  manual_seed(7);
  auto reference = p.make();
  manual_seed(7);
  auto local = p.make();
  auto d = std::make_shared<dist::DistributedDataParallel>(local);
  const int64_t micro = 6, global = micro * g_world;
  for (int step = 0; step < 2; ++step) {
    local->zero_grad();
    reference->zero_grad();
    for (int k = 0; k < 3; ++k) {
      Tensor x = p.x.narrow(0, k * global, global), y = p.y.narrow(0, k * global, global);
      auto run = [&] { (loss_of(*d, x.narrow(0, g_rank * micro, micro), y.narrow(0, g_rank * micro, micro), false) / 3.0).backward(); };
      if (k < 2) {
        auto guard = d->no_sync();
        run();
      } else {
        run();
      }
      (loss_of(*reference, x, y, false) / 3.0).backward();
    }
    auto a = local->named_parameters(), b = reference->named_parameters();
    for (size_t i = 0; i < a.size(); ++i) {
      double diff = (a[i].second.grad() - b[i].second.grad()).abs().max().item<double>();
      if (!(diff <= 1e-10)) fail(str("no_sync: gradient of ", a[i].first, " differs by ", diff));
    }
  }
  std::cout << "rank " << g_rank << ": no_sync ok" << std::endl;
  return 0;
}

// A model with a branch that only some ranks use, and a parameter nobody uses.
class Branchy : public nn::Module {
 public:
  Branchy() {
    a = register_module("a", std::make_shared<nn::Linear>(4, 3));
    b = register_module("b", std::make_shared<nn::Linear>(4, 3));
    never = register_module("never", std::make_shared<nn::Linear>(4, 3));
  }
  Tensor forward(const Tensor& x) override { return use_b ? (*a)(x) + (*b)(x) : (*a)(x); }
  std::string type_name() const override { return "Branchy"; }
  std::shared_ptr<nn::Linear> a, b, never;
  bool use_b = true;
};

int unused(bool find_unused) {
  manual_seed(3);
  auto m = std::make_shared<Branchy>();
  m->use_b = g_rank == 0;  // rank 0 uses b, the others do not
  dist::DDPOptions o;
  o.find_unused_parameters = find_unused;
  auto d = std::make_shared<dist::DistributedDataParallel>(m, nullptr, o);
  Generator gen(5);
  Tensor x = randn({8, 4}, TensorOptions(DType::Float32, kCPU), &gen);
  if (!find_unused) {
    try {
      (*d)(x).sum().backward();
    } catch (const dist::DistError& e) {
      std::string w = e.what();
      expect(w.find("never.weight") != std::string::npos && w.find("find_unused_parameters") != std::string::npos,
             "the error names the unused parameter and the option: " + w);
      std::cout << "rank " << g_rank << ": unused parameters raise: " << w << std::endl;
      return 0;
    }
    fail("a parameter without gradient did not raise");
  }
  for (int step = 0; step < 2; ++step) {
    m->zero_grad();
    (*d)(x).sum().backward();
    // b's gradient: rank 0's own / world (the others contributed zeros)
    manual_seed(3);
    Branchy ref;
    ref.zero_grad();
    (*ref.b)(x).sum().backward();
    Tensor want = ref.b->weight.grad() / static_cast<double>(g_world);
    double diff = (m->b->weight.grad() - want).abs().max().item<double>();
    if (!(diff <= 1e-6)) fail(str("find_unused: b.weight grad differs by ", diff));
    expect(!m->never->weight.grad().defined(), "a parameter unused on every rank keeps no gradient");
  }
  std::cout << "rank " << g_rank << ": find_unused_parameters ok" << std::endl;
  return 0;
}

int mismatch() {
  manual_seed(1);
  auto m = std::make_shared<nn::MLP>(std::vector<int64_t>{4, g_rank == 0 ? 8 : 9, 2});
  try {
    dist::DistributedDataParallel d(m);
  } catch (const ValueError& e) {
    std::string w = e.what();
    expect(w.find("differ") != std::string::npos && w.find("rank 0 has") != std::string::npos, "message: " + w);
    std::cout << "rank " << g_rank << ": mismatch raises: " << w << std::endl;
    return 0;
  }
  fail("different models on the ranks did not raise");
}

int twice() {
  manual_seed(1);
  auto m = std::make_shared<nn::MLP>(std::vector<int64_t>{4, 8, 2});
  auto d = std::make_shared<dist::DistributedDataParallel>(m);
  Tensor loss = (*d)(ones({2, 4})).sum();
  loss.backward({}, true);
  try {
    loss.backward();
  } catch (const dist::DistError& e) {
    expect(std::string(e.what()).find("twice") != std::string::npos, std::string("message: ") + e.what());
    std::cout << "rank " << g_rank << ": backward twice raises" << std::endl;
    return 0;
  }
  fail("backward twice did not raise");
}

int order_mismatch() {
  // ANNEAL_DISTRIBUTED_DEBUG=DETAIL: rank 0 all-reduces, the others broadcast
  auto pg = dist::default_group();
  Tensor t = ones({10});
  try {
    if (g_rank == 0) pg->all_reduce(t)->wait();
    else pg->broadcast(t, 0)->wait();
  } catch (const dist::DistError& e) {
    std::string w = e.what();
    expect(w.find("mismatch") != std::string::npos, "message: " + w);
    std::cout << "rank " << g_rank << ": order mismatch raises: " << w << std::endl;
    return 0;
  }
  fail("mismatched collectives did not raise");
}

int train_forever() {
  manual_seed(1);
  auto m = std::make_shared<nn::MLP>(std::vector<int64_t>{32, 64, 4});
  auto d = std::make_shared<dist::DistributedDataParallel>(m);
  optim::SGD opt(d->parameters(), 0.01);
  Tensor x = randn({16, 32});
  Tensor y = zeros({16}, DType::Int64);
  for (int step = 0;; ++step) {
    opt.zero_grad();
    cross_entropy((*d)(x), y).backward();
    opt.step();
    std::cout << "rank " << g_rank << " step " << step << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ZeRO-1 (AdamW state sharded, gradients reduce-scattered, parameters all-gathered) equals
// one process's AdamW on the global batch; its gathered state equals that AdamW's state,
// and loading a plain AdamW's state continues as the plain AdamW does.
Tensor rotate(const Tensor& t, int64_t k) {
  const int64_t n = t.size(0);
  k %= n;
  return k == 0 ? t : cat({t.narrow(0, k, n - k), t.narrow(0, 0, k)});
}

int zero_equals_adamw() {
  const int64_t per_rank = 5, global = per_rank * g_world;
  Generator gen(21);
  Tensor x = randn({global, 7}, TensorOptions(DType::Float64, kCPU), &gen);
  Tensor y = randint(0, 3, {global}, DType::Int64, &gen);
  auto make = [] {
    auto m = std::make_shared<nn::MLP>(std::vector<int64_t>{7, 11, 3});  // 124 parameters: not a multiple of 3
    m->to(DType::Float64);
    return m;
  };
  manual_seed(5);
  auto ref = make();
  manual_seed(5 + g_rank);  // the others start elsewhere: ZeRO copies rank 0's
  auto local = make();
  auto factory = [](TensorList shard) { return std::make_unique<optim::AdamW>(shard, 1e-2, 0.9, 0.999, 1e-8, 0.05); };
  dist::ZeroRedundancyOptimizer zero(local->parameters(), factory);
  optim::AdamW plain(ref->parameters(), 1e-2, 0.9, 0.999, 1e-8, 0.05);
  auto train_step = [&](int step) {
    Tensor xs = rotate(x, step), ys = rotate(y, step);
    zero.zero_grad();
    cross_entropy((*local)(xs.narrow(0, g_rank * per_rank, per_rank)), ys.narrow(0, g_rank * per_rank, per_rank)).backward();
    zero.step();
    plain.zero_grad();
    cross_entropy((*ref)(xs), ys).backward();
    plain.step();
    double d = max_diff(*local, *ref);
    if (!(d <= 1e-6)) fail(str("zero: step ", step, " differs from AdamW by ", d));
  };
  for (int step = 0; step < 4; ++step) train_step(step);
  // the gathered state is AdamW's
  auto mine = zero.state_dict(), theirs = plain.state_dict();
  expect(mine.state.size() == theirs.state.size(), "zero: state for every parameter");
  for (auto& [i, st] : theirs.state)
    for (auto& [key, t] : st) {
      double d = (mine.state.at(i).at(key).to(DType::Float64) - t.to(DType::Float64)).abs().max().item<double>();
      if (!(d <= 1e-9)) fail(str("zero: gathered state ", key, " of parameter ", i, " differs by ", d));
    }
  // a fresh ZeRO loading the plain state continues exactly as the plain AdamW
  dist::ZeroRedundancyOptimizer again(local->parameters(), factory);
  again.load_state_dict(theirs);
  Tensor xs = rotate(x, 9), ys = rotate(y, 9);
  again.zero_grad();
  cross_entropy((*local)(xs.narrow(0, g_rank * per_rank, per_rank)), ys.narrow(0, g_rank * per_rank, per_rank)).backward();
  again.step();
  plain.zero_grad();
  cross_entropy((*ref)(xs), ys).backward();
  plain.step();
  double d = max_diff(*local, *ref);
  if (!(d <= 1e-6)) fail(str("zero: after loading AdamW's state, differs by ", d));
  std::cout << "rank " << g_rank << ": zero ok (shard of " << zero.shard_numel() << " elements)" << std::endl;
  return 0;
}

// The Trainer under DDP: a DistributedSampler shards the data, rank 0 checkpoints; with
// ANNEAL_TEST_DIE_AT_STEP=k rank 1 kills itself at step k in the launcher's first attempt
// (the restarted group resumes from the checkpoint). Prints a digest of the parameters.
int trainer(const std::string& run_dir, int64_t max_steps, bool zero) {
  const int64_t n = 96, global_batch = 8;
  expect(global_batch % g_world == 0, "the global batch divides by the world size");
  Generator gen(99);
  Tensor x = randn({n, 10}, TensorOptions(DType::Float64, kCPU), &gen);
  Tensor y = randint(0, 3, {n}, DType::Int64, &gen);
  auto dataset = std::make_shared<data::TensorDataset>(x, y);
  data::DataLoaderOptions lo;
  lo.batch_size = global_batch / g_world;
  lo.sampler = std::make_shared<data::DistributedSampler>(n, g_world, g_rank, true, 5);
  data::DataLoader loader(dataset, lo);
  manual_seed(11);
  auto mlp = std::make_shared<nn::MLP>(std::vector<int64_t>{10, 16, 3});
  mlp->to(DType::Float64);
  // DDP + AdamW, or the plain model + ZeRO-1 (sharded AdamW state, its step synchronises)
  std::shared_ptr<nn::Module> model = mlp;
  std::unique_ptr<optim::Optimizer> optimizer;
  if (zero) {
    optimizer = std::make_unique<dist::ZeroRedundancyOptimizer>(
        mlp->parameters(), [](TensorList shard) { return std::make_unique<optim::AdamW>(shard, 1e-2); });
  } else {
    model = std::make_shared<dist::DistributedDataParallel>(mlp);
    optimizer = std::make_unique<optim::AdamW>(model->parameters(), 1e-2);
  }
  auto ddp = model;
  optim::Optimizer& opt = *optimizer;
  train::TrainerOptions to;
  to.epochs = 0;  // max_steps decides
  to.max_steps = max_steps;
  to.accumulate = 2;
  to.checkpoint_every = 2;
  to.log_every = 2;
  to.run_dir = run_dir;
  to.progress = false;
  train::Trainer t(*ddp, opt, loader,
                   [](nn::Module& m, const data::Batch& b) { return cross_entropy(m(b.data), b.target); }, to);
  const char* die = std::getenv("ANNEAL_TEST_DIE_AT_STEP");
  const char* attempt = std::getenv("ANNEAL_RESTART_COUNT");
  if (die && g_rank == 1 && (!attempt || std::string(attempt) == "0")) {
    const int64_t at = std::atoll(die);
    t.add_callback([at](const train::StepInfo& info) {
      if (info.step == at) std::raise(SIGKILL);
      return true;
    });
  }
  if (const char* ms = std::getenv("ANNEAL_TEST_STEP_SLEEP_MS")) {  // slow steps: time to signal mid-run
    const int64_t pause = std::atoll(ms);
    t.add_callback([pause](const train::StepInfo&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause));
      return true;
    });
  }
  t.set_evaluator([&](nn::Module& m) -> std::map<std::string, double> {
    return {{"val_loss", cross_entropy(m(x), y).item<double>()}};
  });
  auto r = t.fit();
  double digest = 0;
  int64_t k = 0;
  for (auto& p : mlp->parameters())
    for (double v : as_doubles(p)) digest += v * static_cast<double>(++k % 7 + 1);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", digest);
  std::cout << "rank " << g_rank << " final step " << r.steps << " digest " << buf << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: dist_worker SCENARIO [args]" << std::endl;
    return 2;
  }
  try {
    set_num_threads(1);
    dist::InitOptions init;
    if (const char* im = std::getenv("ANNEAL_TEST_INIT_METHOD")) {
      // tcp://host:port or file:///path with rank and world size given as arguments
      init.init_method = im;
      init.rank = std::atoi(std::getenv("TEST_RANK"));
      init.world_size = std::atoi(std::getenv("TEST_WORLD_SIZE"));
    }
    dist::init_process_group(init);
    g_rank = dist::get_rank();
    g_world = dist::get_world_size();
    int rc = 1;
    const std::string& s = args[0];
    if (s == "collectives") rc = collectives();
    else if (s == "ddp") {
      std::string hook;
      double cap = 25;
      bool view = false;
      int steps = 4;
      for (size_t i = 2; i < args.size(); ++i) {
        if (args[i] == "--tiny-buckets") cap = 0.0005;  // ~500 bytes: many buckets
        if (args[i] == "--as-view") view = true;
        if (args[i] == "--fp16") hook = "fp16";
        if (args[i] == "--bf16") hook = "bf16";
      }
      rc = ddp(args.at(1), cap, view, steps, hook);
    } else if (s == "nosync") rc = nosync();
    else if (s == "unused") rc = unused(false);
    else if (s == "unused_ok") rc = unused(true);
    else if (s == "mismatch") rc = mismatch();
    else if (s == "twice") rc = twice();
    else if (s == "order_mismatch") rc = order_mismatch();
    else if (s == "train_forever") rc = train_forever();
    else if (s == "trainer") rc = trainer(args.at(1), std::atoll(args.at(2).c_str()), args.size() > 3 && args[3] == "--zero");
    else if (s == "zero") rc = zero_equals_adamw();
    else fail("unknown scenario " + s);
    dist::destroy_process_group();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "rank " << g_rank << ": error: " << e.what() << std::endl;
    return 1;
  }
}
