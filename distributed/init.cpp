#include "distributed/init.h"

#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "core/atomic_file.h"
#include "core/directories.h"
#include "core/read_file.h"
#include "distributed/process_group_gloo.h"
#include "distributed/process_group_nccl.h"
#include "distributed/socket.h"
#include "runtime/device.h"

namespace anneal::distributed {
namespace {

struct World {
  std::mutex mu;
  ProcessGroupPtr group;
  std::shared_ptr<TCPStore> store;
  Bootstrap boot;
  std::string backend;
  std::string hostname, iface;  // what this rank's Gloo device binds to (an address or an interface)
  std::string file_path; // file:// rendezvous written by rank 0 (removed at destroy)
  int64_t next_group_id = 0;
  std::vector<std::weak_ptr<ProcessGroup>> subgroups;
};

World& world() {
  static World w;
  return w;
}

std::chrono::milliseconds env_seconds(const char* name, std::chrono::milliseconds fallback) {
  const char* v = std::getenv(name);
  if (!v) return fallback;
  char* end = nullptr;
  double s = std::strtod(v, &end);
  ANNEAL_CHECK(end && *end == '\0' && s > 0 && s < 1e7, ValueError, name, "='", v,
               "' is not a positive number of seconds");
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

bool debug_detail() {
  const char* v = std::getenv("ANNEAL_DISTRIBUTED_DEBUG");
  if (!v) return false;
  std::string s(v);
  ANNEAL_CHECK(s == "OFF" || s == "INFO" || s == "DETAIL", ValueError, "ANNEAL_DISTRIBUTED_DEBUG='", s,
               "' is not one of OFF, INFO, DETAIL");
  return s == "DETAIL";
}

// "tcp://host:port" -> host, port
std::pair<std::string, int> parse_host_port(const std::string& s, const std::string& whole) {
  auto colon = s.rfind(':');
  ANNEAL_CHECK(colon != std::string::npos && colon > 0, ValueError, "init_method '", whole,
               "' must look like tcp://host:port");
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port = s.substr(colon + 1);
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  ANNEAL_CHECK(!port.empty() && end && *end == '\0' && p >= 1 && p <= 65535, ValueError, "init_method '", whole,
               "': port '", port, "' is not a port number (1..65535)");
  return {host, static_cast<int>(p)};
}

std::string this_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "127.0.0.1";
  return buf;
}

// Where this rank sits: from init_process_group's rank and world_size when given (the
// local rank then follows LOCAL_RANK if set), else from the launcher's variables.
Bootstrap from_arguments_or_environment(const InitOptions& o) {
  if (o.rank < 0) return read_bootstrap();
  Bootstrap b;
  b.rank = o.rank;
  b.world_size = o.world_size;
  b.local_rank = o.rank;
  b.local_world_size = o.world_size;
  b.source = "arguments";
  if (const char* lr = std::getenv("LOCAL_RANK")) b.local_rank = std::atoi(lr);
  if (const char* lw = std::getenv("LOCAL_WORLD_SIZE")) b.local_world_size = std::atoi(lw);
  if (b.local_rank < 0 || b.local_world_size < 1 || b.local_rank >= b.local_world_size ||
      b.local_world_size > b.world_size) {  // variables of another job: this process is its own node
    b.local_rank = o.rank;
    b.local_world_size = o.world_size;
  }
  return b;
}

}  // namespace

bool nccl_is_available() { return nccl_library_loads(); }

ProcessGroupPtr init_process_group(InitOptions o) {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  ANNEAL_CHECK(!w.group, distributed::DistError, "init_process_group: the default process group is already initialized "
               "(call destroy_process_group first)");
  std::string backend = o.backend;
  for (auto& c : backend) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (backend.empty()) backend = cuda_is_available() ? "nccl" : "gloo";
  ANNEAL_CHECK(backend == "gloo" || backend == "nccl", ValueError, "init_process_group: unknown backend '", o.backend,
               "' (expected gloo or nccl)");
  const std::chrono::milliseconds default_timeout =
      backend == "nccl" ? std::chrono::minutes(10) : std::chrono::minutes(30);
  const auto timeout = o.timeout.count() > 0 ? o.timeout : env_seconds("ANNEAL_DISTRIBUTED_TIMEOUT", default_timeout);
  const auto init_timeout =
      o.init_timeout.count() > 0 ? o.init_timeout : env_seconds("ANNEAL_INIT_TIMEOUT", std::chrono::minutes(5));

  Bootstrap b;
  const std::string im = o.store ? std::string("store") : o.init_method.empty() ? std::string("env://") : o.init_method;
  std::string store_host;
  int store_port = 0;
  bool file_rendezvous = false;
  std::string file_path;
  if (o.store) {
    ANNEAL_CHECK(o.rank >= 0 && o.world_size >= 1, ValueError,
                 "init_process_group(store=...): rank and world_size must be given");
    b = from_arguments_or_environment(o);
    store_host = o.store->host();
    store_port = o.store->port();
  } else if (im.rfind("env://", 0) == 0) {
    if (o.rank >= 0 && o.world_size >= 1 && !std::getenv("RANK") && !std::getenv("OMPI_COMM_WORLD_RANK") &&
        !std::getenv("SLURM_PROCID")) {
      b = from_arguments_or_environment(o);
      if (const char* a = std::getenv("MASTER_ADDR")) b.master_addr = a;
      if (const char* p = std::getenv("MASTER_PORT")) b.master_port = std::atoi(p);
    } else {
      b = read_bootstrap();
    }
    if (b.world_size > 1) {
      ANNEAL_CHECK(!b.master_addr.empty(), ValueError, "init_process_group(env://): MASTER_ADDR is not set (rank ",
                   b.rank, " of ", b.world_size, " must know where rank 0 listens)");
      ANNEAL_CHECK(b.master_port > 0, ValueError, "init_process_group(env://): MASTER_PORT is not set");
    }
    store_host = b.master_addr.empty() ? "127.0.0.1" : b.master_addr;
    store_port = b.master_port;
  } else if (im.rfind("tcp://", 0) == 0) {
    auto [h, p] = parse_host_port(im.substr(6), im);
    store_host = h;
    store_port = p;
    b = from_arguments_or_environment(o);
    b.master_addr = h;
    b.master_port = p;
  } else if (im.rfind("file://", 0) == 0) {
    file_path = im.substr(7);
    ANNEAL_CHECK(!file_path.empty(), ValueError, "init_method '", im, "' names no file");
    b = from_arguments_or_environment(o);
    file_rendezvous = true;
  } else {
    ANNEAL_CHECK(false, ValueError, "init_process_group: init_method '", im,
                 "' is not env://, tcp://host:port or file:///path");
  }
  ANNEAL_CHECK(b.world_size >= 1 && b.rank >= 0 && b.rank < b.world_size, ValueError,
               "init_process_group: rank ", b.rank, " is not in a world of ", b.world_size,
               " (pass rank and world_size, or set RANK and WORLD_SIZE)");

  // The store: rank 0 hosts it; with file:// its address travels through the file.
  std::shared_ptr<TCPStore> store;
  const bool host = b.rank == 0;
  if (o.store) {
    store = o.store;
  } else if (file_rendezvous) {
    if (host) {
      store = std::make_shared<TCPStore>("127.0.0.1", 0, true, init_timeout, b.rank);
      const std::string line = str(this_host_name(), " ", store->port(), "\n");
      write_file_atomically(file_path, [&](std::ostream& os) { os << line; }, "init_process_group(file://)");
      store_host = this_host_name();
      store_port = store->port();
    } else {
      auto deadline = net::deadline_after(init_timeout);
      for (;;) {
        if (path_exists(file_path, "init_process_group(file://)")) {
          std::string text = read_whole_file(file_path, "init_process_group(file://)", 4096);
          std::istringstream is(text);
          std::string h;
          int p = 0;
          if (is >> h >> p && p > 0) {
            store_host = h == this_host_name() ? "127.0.0.1" : h;
            store_port = p;
            break;
          }
        }
        if (net::Clock::now() >= deadline)
          throw DistStoreError(str("init_process_group(", im, "): rank 0 did not write the rendezvous file within ",
                                   init_timeout.count(), " ms"));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      store = std::make_shared<TCPStore>(store_host, store_port, false, init_timeout, b.rank);
    }
  } else {
    store = std::make_shared<TCPStore>(store_host, store_port, host, init_timeout, b.rank);
  }

  // Every rank checks in, so that a wrong WORLD_SIZE or two jobs on one port are caught.
  int64_t arrived = store->add("init/arrived", 1);
  ANNEAL_CHECK(arrived <= b.world_size, distributed::DistError, "init_process_group: ", arrived, " processes joined the store at ",
               store_host, ":", store_port, " but WORLD_SIZE is ", b.world_size,
               " (another job on the same MASTER_PORT, or ranks with different WORLD_SIZE?)");
  store->set(str("init/world_size/", b.rank), std::to_string(b.world_size));
  ANNEAL_CHECK(store->get("init/world_size/0") == std::to_string(b.world_size), ValueError,
               "init_process_group: rank ", b.rank, " has WORLD_SIZE ", b.world_size, " but rank 0 has ",
               store->get("init/world_size/0"));

  std::string hostname, iface;
  if (const char* ifn = std::getenv("GLOO_SOCKET_IFNAME")) {
    net::interface_address(ifn);  // an unknown interface is an error naming the ones there are
    iface = ifn;                  // Gloo binds the interface itself, as in PyTorch
  }
  if (iface.empty()) hostname = is_loopback(store_host) ? "127.0.0.1" : net::local_address_towards(store_host, store_port);

  ProcessGroupPtr pg;
  if (backend == "gloo") {
    GlooOptions go;
    go.timeout = init_timeout;
    go.hostname = hostname;
    go.iface = iface;
    go.status_store = store;
    go.report_progress = true;
    go.debug_detail = debug_detail();
    auto g = std::make_shared<ProcessGroupGloo>(std::make_shared<PrefixStore>("default_pg", store), b.rank, b.world_size, go);
    g->set_timeout(timeout);
    pg = g;
  } else {
    NcclOptions no;
    no.timeout = timeout;
    no.status_store = store;
    no.device_index = b.local_rank;
    pg = make_process_group_nccl(std::make_shared<PrefixStore>("default_pg", store), b.rank, b.world_size, no);
  }
  store->set_timeout(timeout);
  w.group = pg;
  w.store = store;
  w.boot = b;
  w.backend = backend;
  w.hostname = hostname;
  w.iface = iface;
  w.file_path = host && file_rendezvous ? file_path : "";
  w.next_group_id = 0;
  return pg;
}

bool is_initialized() {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  return w.group != nullptr;
}

ProcessGroupPtr default_group() {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  ANNEAL_CHECK(w.group, distributed::DistError, "the default process group has not been initialized: call init_process_group first");
  return w.group;
}

std::shared_ptr<Store> default_store() {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  ANNEAL_CHECK(w.store, distributed::DistError, "the default process group has not been initialized: call init_process_group first");
  return w.store;
}

const Bootstrap& bootstrap_info() {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  ANNEAL_CHECK(w.group, distributed::DistError, "the default process group has not been initialized: call init_process_group first");
  return w.boot;
}

int get_rank() { return default_group()->rank(); }
int get_world_size() { return default_group()->size(); }

void destroy_process_group() {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  w.group.reset();
  w.subgroups.clear();
  if (!w.file_path.empty()) ::unlink(w.file_path.c_str());
  w.file_path.clear();
  w.store.reset();  // rank 0: waits (briefly) for the others to leave, then closes the store
}

ProcessGroupPtr new_group(const std::vector<int>& ranks, std::chrono::milliseconds timeout) {
  World& w = world();
  std::lock_guard<std::mutex> lock(w.mu);
  ANNEAL_CHECK(w.group, distributed::DistError, "new_group: call init_process_group first");
  const int world_size = w.group->size();
  std::vector<int> members = ranks;
  if (members.empty())
    for (int r = 0; r < world_size; ++r) members.push_back(r);
  std::vector<int> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    ANNEAL_CHECK(sorted[i] >= 0 && sorted[i] < world_size, ValueError, "new_group: rank ", sorted[i],
                 " is not in the world of ", world_size);
    ANNEAL_CHECK(i == 0 || sorted[i] != sorted[i - 1], ValueError, "new_group: rank ", sorted[i], " is listed twice");
  }
  const int64_t id = w.next_group_id++;
  const int me = w.group->rank();
  auto it = std::find(members.begin(), members.end(), me);
  if (it == members.end()) return nullptr;
  const int sub_rank = static_cast<int>(it - members.begin());
  const auto t = timeout.count() > 0 ? timeout : w.group->timeout();
  ProcessGroupPtr pg;
  auto prefix = std::make_shared<PrefixStore>(str("group_", id), w.store);
  if (w.backend == "gloo") {
    GlooOptions go;
    go.timeout = t;
    go.hostname = w.hostname;
    go.iface = w.iface;
    go.status_store = w.store;
    go.global_ranks = members;
    go.debug_detail = debug_detail();
    pg = std::make_shared<ProcessGroupGloo>(prefix, sub_rank, static_cast<int>(members.size()), go);
  } else {
    NcclOptions no;
    no.timeout = t;
    no.status_store = w.store;
    no.device_index = w.boot.local_rank;
    no.global_ranks = members;
    pg = make_process_group_nccl(prefix, sub_rank, static_cast<int>(members.size()), no);
  }
  w.subgroups.push_back(pg);
  return pg;
}

}  // namespace anneal::distributed
