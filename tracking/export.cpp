#include "tracking/export.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/directories.h"
#include "core/error.h"
#include "tracking/run_folder.h"

namespace anneal::tracking {
namespace {

// --- protobuf wire format, for the three messages TensorBoard reads ---
void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void tag(std::string& out, int field, int wire) { varint(out, (uint64_t(field) << 3) | uint64_t(wire)); }
void fixed64(std::string& out, double v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
void fixed32(std::string& out, float v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}
void bytes(std::string& out, int field, const std::string& s) {
  tag(out, field, 2);
  varint(out, s.size());
  out += s;
}

// Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
// Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
std::string event(double wall_time, int64_t step, const std::string* file_version, const std::string* key, float value) {
  std::string e;
  tag(e, 1, 1);
  fixed64(e, wall_time);
  if (step != 0) {
    tag(e, 2, 0);
    varint(e, static_cast<uint64_t>(step));
  }
  if (file_version) bytes(e, 3, *file_version);
  if (key) {
    std::string v;
    bytes(v, 1, *key);
    tag(v, 2, 5);
    fixed32(v, value);
    std::string summary;
    bytes(summary, 1, v);
    bytes(e, 5, summary);
  }
  return e;
}

void record(std::string& out, const std::string& data) {
  const uint64_t n = data.size();
  char len[8];
  std::memcpy(len, &n, 8);  // little-endian, as x86 and every TensorBoard reader expect
  out.append(len, 8);
  uint32_t c = masked_crc32c(len, 8);
  out.append(reinterpret_cast<const char*>(&c), 4);
  out += data;
  c = masked_crc32c(data.data(), data.size());
  out.append(reinterpret_cast<const char*>(&c), 4);
}

void write_out(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& os) { os << text; }, "anneal runs export");
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  static uint32_t table[256];
  static bool ready = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)ready;
  uint32_t c = 0xffffffffu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string export_run(Registry& registry, const std::string& id, const std::string& format, const std::string& out) {
  auto run = registry.get_run(id);
  ANNEAL_CHECK(run.has_value(), ValueError, "export: no run ", id);
  auto history = registry.metric_history(id);
  make_directories(out, "anneal runs export");
  if (format == "csv") {
    std::string text = "run_id,key,step,timestamp,value\n";
    char buf[64];
    for (auto& [k, points] : history)
      for (auto& p : points) {
        std::string key = k;
        if (key.find_first_of(",\"") != std::string::npos) {
          std::string q = "\"";
          for (char c : key) q += c == '"' ? std::string("\"\"") : std::string(1, c);
          key = q + "\"";
        }
        text += id + "," + key + "," + std::to_string(p.step) + ",";
        std::snprintf(buf, sizeof buf, "%.6f", p.timestamp);
        text += buf;
        text += ",";
        if (std::isfinite(p.value)) {
          std::snprintf(buf, sizeof buf, "%.17g", p.value);
          text += buf;
        }
        text += "\n";
      }
    const std::string path = out + "/" + id + ".csv";
    write_out(path, text);
    return path;
  }
  if (format == "json") {
    nlohmann::json j = {{"id", run->id}, {"name", run->name}, {"experiment", run->experiment},
                        {"status", run->status}, {"params", run->params}, {"tags", run->tags}};
    nlohmann::json m = nlohmann::json::object();
    for (auto& [k, points] : history) {
      auto& arr = m[k] = nlohmann::json::array();
      for (auto& p : points)
        arr.push_back({{"step", p.step}, {"timestamp", p.timestamp},
                       {"value", std::isfinite(p.value) ? nlohmann::json(p.value) : nlohmann::json(nullptr)}});
    }
    j["metrics"] = m;
    const std::string path = out + "/" + id + ".json";
    write_out(path, j.dump(1) + "\n");
    return path;
  }
  if (format == "tensorboard") {
    std::string data;
    const std::string version = "brain.Event:2";
    record(data, event(run->created > 0 ? run->created : now_seconds(), 0, &version, nullptr, 0));
    // all points in time order, as a live writer would have written them
    std::vector<MetricPoint> all;
    for (auto& [k, points] : history) all.insert(all.end(), points.begin(), points.end());
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.timestamp < b.timestamp; });
    for (auto& p : all) {
      if (!std::isfinite(p.value)) continue;
      record(data, event(p.timestamp, p.step, nullptr, &p.key, static_cast<float>(p.value)));
    }
    const std::string dir = out + "/" + id;
    make_directories(dir, "anneal runs export");
    const std::string path =
        dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(run->created)) + "." + this_host();
    write_out(path, data);
    return path;
  }
  throw ValueError(str("export: unknown format '", format, "' (csv, json or tensorboard)"));
}

}  // namespace anneal::tracking
