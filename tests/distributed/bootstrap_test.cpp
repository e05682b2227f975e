// Where a process sits in the job, from each launcher's variables, and the store's
// operations with a real server on loopback (in one process).
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "anneal.h"

using namespace anneal;
namespace dist = anneal::distributed;

namespace {

dist::Bootstrap read(const std::map<std::string, std::string>& vars) {
  return dist::read_bootstrap([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  try {
    read(vars);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "";
}

TEST(Bootstrap, TorchrunVariables) {
  auto b = read({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                 {"MASTER_ADDR", "10.0.0.5"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(b.rank, 3);
  EXPECT_EQ(b.world_size, 8);
  EXPECT_EQ(b.local_rank, 1);
  EXPECT_EQ(b.local_world_size, 2);
  EXPECT_EQ(b.master_addr, "10.0.0.5");
  EXPECT_EQ(b.master_port, 29500);
  EXPECT_EQ(b.source, "torchrun");
}

TEST(Bootstrap, OpenMpiVariables) {
  auto b = read({{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "6"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
                 {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"}, {"MASTER_ADDR", "node1"}, {"MASTER_PORT", "1234"}});
  EXPECT_EQ(b.source, "mpi");
  EXPECT_EQ(b.rank, 5);
  EXPECT_EQ(b.world_size, 6);
  EXPECT_EQ(b.local_rank, 2);
  EXPECT_EQ(b.local_world_size, 3);
}

TEST(Bootstrap, SlurmVariablesAndTheFirstHost) {
  auto b = read({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"},
                 {"SLURM_JOB_NODELIST", "gpu[07-09,12],cpu1"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(b.source, "slurm");
  EXPECT_EQ(b.rank, 1);
  EXPECT_EQ(b.world_size, 4);
  EXPECT_EQ(b.local_rank, 1);
  EXPECT_EQ(b.master_addr, "gpu07");
  EXPECT_EQ(dist::first_slurm_host("node1"), "node1");
  EXPECT_EQ(dist::first_slurm_host("a[3,5],b"), "a3");
  EXPECT_EQ(dist::first_slurm_host("rack1-n[001-004]-ib"), "rack1-n001-ib");
  EXPECT_THROW(dist::first_slurm_host("n[1-2"), ValueError);
}

TEST(Bootstrap, MissingOrContradictoryVariablesAreNamed) {
  EXPECT_NE(error_of({}).find("RANK and WORLD_SIZE"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}}).find("WORLD_SIZE is not set"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "4"}, {"WORLD_SIZE", "4"}}).find("RANK=4 is not below WORLD_SIZE=4"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "-1"}, {"WORLD_SIZE", "4"}}).find("RANK='-1'"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT=70000"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}})
                .find("LOCAL_RANK=2"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}})
                .find("contradict"),
            std::string::npos);
  EXPECT_NE(error_of({{"OMPI_COMM_WORLD_RANK", "0"}}).find("OMPI_COMM_WORLD_SIZE"), std::string::npos);
}

TEST(Store, OperationsAndTimeouts) {
  dist::TCPStore server("127.0.0.1", 0, true, std::chrono::seconds(5), 0);
  dist::TCPStore client("127.0.0.1", server.port(), false, std::chrono::seconds(5), 1);
  client.set("a", std::string("x\0y", 3));
  EXPECT_EQ(server.get("a"), std::string("x\0y", 3));
  EXPECT_EQ(server.add("n", 5), 5);
  EXPECT_EQ(client.add("n", -2), 3);
  EXPECT_EQ(client.compare_set("c", "", "first"), "first");
  EXPECT_EQ(client.compare_set("c", "wrong", "second"), "first");
  EXPECT_EQ(client.compare_set("c", "first", "second"), "second");
  EXPECT_TRUE(client.check({"a", "n"}));
  EXPECT_FALSE(client.check({"a", "missing"}));
  EXPECT_TRUE(client.delete_key("a"));
  EXPECT_FALSE(client.check({"a"}));
  // a get waits for the key another client sets
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.set("late", "v");
  });
  EXPECT_EQ(client.get("late"), "v");
  later.join();
  // and times out when nobody does, naming the key
  client.set_timeout(std::chrono::milliseconds(200));
  try {
    client.get("never");
    FAIL() << "no timeout";
  } catch (const dist::DistStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("never"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.get("late"), "v");  // the connection recovers after a timeout
  auto status = server.rank_status(std::chrono::seconds(1));
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[1].state, dist::RankStatus::Alive);
}

TEST(Store, NoServerIsAConnectTimeoutNamingTheAddress) {
  int port;
  {
    dist::TCPStore probe("127.0.0.1", 0, true, std::chrono::seconds(1));
    port = probe.port();
  }
  auto start = std::chrono::steady_clock::now();
  try {
    dist::TCPStore client("127.0.0.1", port, false, std::chrono::milliseconds(300));
    FAIL() << "connected to nothing";
  } catch (const dist::DistStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Store, GarbageFromAClientDoesNotHurtTheServer) {
  dist::TCPStore server("127.0.0.1", 0, true, std::chrono::seconds(5), 0);
  {
    auto s = dist::net::connect_to("127.0.0.1", server.port(), std::chrono::steady_clock::now() + std::chrono::seconds(2));
    const char junk[] = "\xff\xff\xff\xff garbage that is not a request";
    dist::net::send_all(s.fd(), junk, sizeof junk, std::chrono::steady_clock::now() + std::chrono::seconds(1), "junk");
  }
  server.set("still", "works");
  EXPECT_EQ(server.get("still"), "works");
}

std::string init_error(dist::InitOptions o) {
  try {
    dist::init_process_group(o);
  } catch (const std::exception& e) {
    if (dist::is_initialized()) dist::destroy_process_group();
    return e.what();
  }
  dist::destroy_process_group();
  return "";
}

TEST(InitProcessGroup, OneRankAndItsErrors) {
  dist::InitOptions o;
  o.backend = "gloo";
  o.rank = 0;
  o.world_size = 1;
  auto pg = dist::init_process_group(o);
  EXPECT_EQ(dist::get_world_size(), 1);
  EXPECT_EQ(pg->backend_name(), "gloo");
  EXPECT_THROW(dist::init_process_group(o), dist::DistError);  // twice
  Tensor t = ones({4});
  pg->all_reduce(t)->wait();
  EXPECT_TRUE(equal(t, ones({4})));
  pg.reset();
  dist::destroy_process_group();
  EXPECT_FALSE(dist::is_initialized());
  EXPECT_THROW(dist::get_rank(), dist::DistError);

  auto bad = o;
  bad.backend = "mpi";
  EXPECT_NE(init_error(bad).find("unknown backend 'mpi'"), std::string::npos);
  bad = o;
  bad.init_method = "udp://x";
  EXPECT_NE(init_error(bad).find("udp://x"), std::string::npos);
  bad = o;
  bad.init_method = "tcp://host-without-port";
  EXPECT_NE(init_error(bad).find("tcp://host:port"), std::string::npos);
  // the NCCL backend where there is none (no CUDA build, no GPU or no libnccl) says so
  bad = o;
  bad.backend = "nccl";
  if (!cuda_is_available() || !dist::nccl_is_available()) {
    std::string e = init_error(bad);
    EXPECT_TRUE(e.find("nccl") != std::string::npos || e.find("GPU") != std::string::npos) << e;
  }
}

}  // namespace
