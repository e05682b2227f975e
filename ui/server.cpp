#include "ui/server.h"

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/read_file.h"
#include "tracking/liveness.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"
#include "tracking/run_query.h"

namespace anneal::ui {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace anneal::tracking;

namespace {

httplib::Server* g_server = nullptr;
void on_stop(int) {
  if (g_server) g_server->stop();
}

std::string random_token() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 32; ++i) t += hex[rd() & 15];
  return t;
}

bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json run_summary(const RunRecord& r) {
  json j = {{"id", r.id},         {"name", r.name},       {"experiment", r.experiment}, {"status", r.status},
            {"kind", r.kind},     {"host", r.host},       {"created", r.created},       {"started", r.started},
            {"ended", r.ended},   {"heartbeat", r.heartbeat}, {"error", r.error},       {"command", r.command},
            {"params", r.params}, {"tags", r.tags}};
  j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
  json m = json::object();
  for (auto& [k, s] : r.metrics)
    m[k] = {{"last", num(s.last)}, {"min", num(s.min)}, {"max", num(s.max)}, {"last_step", s.last_step},
            {"count", s.count}};
  j["metrics"] = m;
  return j;
}

std::string file_text(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return "";
  const uint64_t size = fs::file_size(path, ec);
  std::ifstream f(path, std::ios::binary);
  if (size > max_bytes) f.seekg(static_cast<std::streamoff>(size - max_bytes));
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return s;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

struct Asset {
  std::string body, type;
};

class App {
 public:
  explicit App(UiOptions o) : o_(std::move(o)) {
    const std::string dir = o_.assets_dir;
    // the fixed list of files the page is made of
    const std::pair<const char*, const char*> files[] = {
        {"index.html", "text/html; charset=utf-8"}, {"app.js", "text/javascript; charset=utf-8"},
        {"style.css", "text/css; charset=utf-8"},   {"uPlot.iife.min.js", "text/javascript; charset=utf-8"},
        {"uPlot.min.css", "text/css; charset=utf-8"}};
    for (auto& [name, type] : files) {
      const std::string path = dir + "/" + name;
      std::error_code ec;
      ANNEAL_CHECK(fs::is_regular_file(path, ec), ValueError, "anneal ui: the page's file ", path,
                   " is missing (build the `anneal_ui_assets` target, or set ANNEAL_UI_DIR)");
      assets_["/" + std::string(name)] = {read_whole_file(path, "anneal ui"), type};
    }
    assets_["/"] = assets_["/index.html"];
    cancel_token_ = o_.token.empty() ? random_token() : o_.token;
    // the page learns the cancel token from itself (other sites cannot read it: same origin)
    auto& html = assets_["/"].body;
    const std::string mark = "{{CANCEL_TOKEN}}";
    auto at = html.find(mark);
    if (at != std::string::npos) html.replace(at, mark.size(), cancel_token_);
    assets_["/index.html"] = assets_["/"];
  }

  const std::string& cancel_token() const { return cancel_token_; }

  // Whether the request may go on; fills `res` (401/421) when not.
  bool admit(const httplib::Request& req, httplib::Response& res, int port) {
    if (is_loopback(o_.host)) {
      // a page elsewhere that resolves its own name to 127.0.0.1 must not read the runs
      const std::string host = req.get_header_value("Host");
      const std::string p = ":" + std::to_string(port);
      if (!(host == "127.0.0.1" + p || host == "localhost" + p || host == "[::1]" + p || host == "127.0.0.1" ||
            host == "localhost")) {
        res.status = 421;
        res.set_content(json({{"error", "this server answers requests to 127.0.0.1 or localhost only"}}).dump(),
                        "application/json");
        return false;
      }
    }
    if (o_.token.empty()) return true;
    if (same_secret(presented_token(req), o_.token)) {
      if (req.has_param("token"))  // the page's own later requests carry a cookie
        res.set_header("Set-Cookie", "anneal_token=" + o_.token + "; HttpOnly; SameSite=Strict; Path=/");
      return true;
    }
    res.status = 401;
    res.set_content(json({{"error", "a token is required: open the address `anneal ui` printed (…/?token=…), or "
                                    "send Authorization: Bearer TOKEN"}}).dump(),
                    "application/json");
    return false;
  }

  static std::string presented_token(const httplib::Request& req) {
    std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0) return auth.substr(7);
    if (req.has_header("X-Anneal-Token")) return req.get_header_value("X-Anneal-Token");
    if (req.has_param("token")) return req.get_param_value("token");
    const std::string cookie = req.get_header_value("Cookie");
    const std::string key = "anneal_token=";
    auto at = cookie.find(key);
    if (at != std::string::npos) {
      auto end = cookie.find(';', at);
      return cookie.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
    }
    return "";
  }

  void routes(httplib::Server& s) {
    for (auto& [path, asset] : assets_) {
      const Asset* a = &asset;
      s.Get(path, [a](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_content(a->body, a->type.c_str());
      });
    }
    s.Get("/api/experiments", [this](const httplib::Request&, httplib::Response& res) {
      answer(res, [&] { return json(registry()->experiments()); });
    });
    s.Get("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        reap_stale_runs(*reg);
        RunFilter filter = req.has_param("where") && !req.get_param_value("where").empty()
                               ? RunFilter(req.get_param_value("where"))
                               : RunFilter();
        std::vector<RunRecord> runs;
        for (auto& r : reg->list_runs(req.get_param_value("experiment"), req.get_param_value("status")))
          if (filter.matches(r)) runs.push_back(std::move(r));
        if (req.has_param("sort")) sort_runs(runs, req.get_param_value("sort"));
        if (req.has_param("limit")) {
          const long n = std::strtol(req.get_param_value("limit").c_str(), nullptr, 10);
          if (n > 0 && runs.size() > size_t(n)) runs.resize(size_t(n));
        }
        json out = json::array();
        for (auto& r : runs) out.push_back(run_summary(r));
        return out;
      });
    });
    s.Get(R"(/api/runs/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        RunRecord r = get(*reg, req.matches[1]);
        json j = run_summary(r);
        j["folder"] = r.folder;
        j["resolved"] = file_text(r.folder + "/resolved.yaml", 1 << 20);
        const std::string env = file_text(r.folder + "/environment.json", 1 << 20);
        j["environment"] = env.empty() ? json(nullptr) : json::parse(env, nullptr, false);
        j["artifacts"] = json::array();
        for (auto& a : reg->artifacts(r.id)) j["artifacts"].push_back({{"path", a.path}, {"size", a.size}});
        return j;
      });
    });
    s.Get(R"(/api/runs/([A-Za-z0-9._-]+)/metrics)", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        RunRecord r = get(*reg, req.matches[1]);
        json out = json::object();
        for (auto& [k, points] : reg->metric_history(r.id, split_list(req.get_param_value("keys")))) {
          json steps = json::array(), values = json::array(), times = json::array();
          for (auto& p : points) {
            steps.push_back(p.step);
            values.push_back(num(p.value));
            times.push_back(p.timestamp);
          }
          out[k] = {{"step", steps}, {"value", values}, {"time", times}};
        }
        return out;
      });
    });
    s.Get(R"(/api/runs/([A-Za-z0-9._-]+)/logs)", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        RunRecord r = get(*reg, req.matches[1]);
        const std::string stream = req.has_param("stream") ? req.get_param_value("stream") : "stdout";
        ANNEAL_CHECK(stream == "stdout" || stream == "stderr", ValueError, "stream must be stdout or stderr");
        long tail = req.has_param("tail") ? std::strtol(req.get_param_value("tail").c_str(), nullptr, 10) : 65536;
        tail = std::clamp(tail, 1L, 16L << 20);
        return json({{"stream", stream}, {"text", file_text(r.folder + "/" + stream + ".log", uint64_t(tail))}});
      });
    });
    s.Get(R"(/api/sweeps/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        RunRecord sweep = get(*reg, req.matches[1]);
        ANNEAL_CHECK(sweep.kind == "sweep", ValueError, "run ", sweep.id, " is not a sweep");
        const std::string state = file_text(sweep.folder + "/sweep.json", 64 << 20);
        json st = json::parse(state, nullptr, false);
        ANNEAL_CHECK(!st.is_discarded(), ValueError, "sweep ", sweep.id, " has no readable sweep.json");
        const std::string objective = sweep.tags.count("objective") ? sweep.tags.at("objective") : "";
        const std::string metric = objective.substr(0, objective.find(" ("));
        const bool maximize = objective.find("maximize") != std::string::npos;
        json trials = json::array();
        for (auto& t : st["trials"]) {
          auto r = reg->get_run(t["run_id"].get<std::string>());
          json j = {{"index", t["index"]}, {"run_id", t["run_id"]}, {"values", t["values"]}};
          j["status"] = r ? r->status : "unknown";
          auto it = r ? r->metrics.find(metric) : decltype(r->metrics.end()){};
          const bool has = r && it != r->metrics.end();
          j["objective"] = has ? num(maximize ? it->second.max : it->second.min) : json(nullptr);
          j["termination"] = r && r->tags.count("early_termination") ? r->tags.at("early_termination") : "";
          trials.push_back(j);
        }
        return json({{"sweep", run_summary(sweep)}, {"metric", metric}, {"goal", maximize ? "maximize" : "minimize"},
                     {"trials", trials}});
      });
    });
    s.Get(R"(/api/pipelines/([A-Za-z0-9._-]+))", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        RunRecord run = get(*reg, req.matches[1]);
        ANNEAL_CHECK(run.kind == "pipeline", ValueError, "run ", run.id, " is not a pipeline");
        json st = json::parse(file_text(run.folder + "/pipeline.json", 16 << 20), nullptr, false);
        ANNEAL_CHECK(!st.is_discarded(), ValueError, "pipeline ", run.id, " has no readable pipeline.json");
        // the steps' statuses as the registry has them now (a step may have ended since)
        for (auto& step : st["steps"]) {
          const std::string id = step.value("run_id", "");
          if (id.empty()) continue;
          if (auto r = reg->get_run(id); r && step["status"] == "running") step["status"] = r->status;
        }
        st["pipeline"] = run_summary(run);
        return st;
      });
    });
    s.Get("/api/compare", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        auto reg = registry();
        const auto ids = split_list(req.get_param_value("ids"));
        ANNEAL_CHECK(ids.size() >= 2 && ids.size() <= 20, ValueError, "compare: give 2 to 20 ids (ids=A,B)");
        json runs = json::array();
        std::set<std::string> keys;
        std::map<std::string, std::set<std::string>> values;
        for (auto& id : ids) {
          RunRecord r = get(*reg, id);
          runs.push_back(run_summary(r));
          for (auto& [k, v] : r.params) keys.insert(k);
        }
        json differing = json::array();
        for (auto& k : keys) {
          std::set<std::string> seen;
          for (auto& r : runs) seen.insert(r["params"].contains(k) ? r["params"][k].get<std::string>() : "");
          if (seen.size() > 1) differing.push_back(k);
        }
        return json({{"runs", runs}, {"differing_params", differing}});
      });
    });
    s.Post(R"(/api/runs/([A-Za-z0-9._-]+)/cancel)", [this](const httplib::Request& req, httplib::Response& res) {
      if (!same_secret(presented_token(req), cancel_token_)) {
        res.status = 403;
        res.set_content(json({{"error", "cancel needs the token"}}).dump(), "application/json");
        return;
      }
      answer(res, [&] {
        auto reg = registry();
        RunRecord r = get(*reg, req.matches[1]);
        if (is_terminal_status(r.status)) return json({{"status", r.status}, {"canceled", false}});
        RunUpdate u;
        u.cancel_requested = true;
        reg->update_run(r.id, u);
        if (r.host == this_host() && r.pid > 0 && process_alive(r.pid)) ::kill(static_cast<pid_t>(r.pid), SIGTERM);
        return json({{"status", r.status}, {"canceled", true}});
      });
    });
  }

 private:
  std::unique_ptr<Registry> registry() { return Registry::open(o_.tracking_uri); }
  static RunRecord get(Registry& reg, const std::string& id) {
    auto r = reg.get_run(id);
    if (!r) throw RunNotFoundError(str("no run ", id));
    return *r;
  }
  struct RunNotFoundError : ValueError {
    using ValueError::ValueError;
  };
  template <typename F>
  void answer(httplib::Response& res, F f) {
    try {
      res.set_content(f().dump(), "application/json");
    } catch (const RunNotFoundError& e) {
      res.status = 404;
      res.set_content(json({{"error", e.what()}}).dump(), "application/json");
    } catch (const ValueError& e) {
      res.status = 400;
      res.set_content(json({{"error", e.what()}}).dump(), "application/json");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(json({{"error", e.what()}}).dump(), "application/json");
    }
    res.set_header("Cache-Control", "no-store");
  }

  UiOptions o_;
  std::map<std::string, Asset> assets_;
  std::string cancel_token_;
};

}  // namespace

std::string find_assets_dir(const std::string& program_path) {
  if (const char* env = std::getenv("ANNEAL_UI_DIR"); env && *env) return env;
  const fs::path dir = fs::path(program_path).parent_path();
  std::error_code ec;
  if (fs::is_regular_file(dir / "share" / "anneal" / "ui" / "index.html", ec))
    return (dir / "share" / "anneal" / "ui").string();
  return (dir.parent_path() / "share" / "anneal" / "ui").string();
}

int serve(UiOptions o) {
  if (!is_loopback(o.host) && o.token.empty()) {
    o.token = random_token();
    std::cout << "anneal ui: --host " << o.host << " is reachable from other machines: requests need the token "
              << o.token << std::endl;
  }
  App app(o);
  httplib::Server server;
  int port = o.port;
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    return app.admit(req, res, port) ? httplib::Server::HandlerResponse::Unhandled
                                     : httplib::Server::HandlerResponse::Handled;
  });
  app.routes(server);
  server.set_payload_max_length(1 << 16);
  if (port == 0) {
    port = server.bind_to_any_port(o.host.c_str());
  } else if (!server.bind_to_port(o.host.c_str(), port)) {
    port = -1;
  }
  if (port <= 0) {
    std::cerr << "anneal ui: cannot listen on " << o.host << ":" << o.port << " (in use, or not an address here)"
              << std::endl;
    return 1;
  }
  if (!o.port_file.empty()) std::ofstream(o.port_file) << port << "\n";
  const std::string shown = o.host == "0.0.0.0" ? this_host() : o.host;
  std::cout << "anneal ui: http://" << shown << ":" << port << "/" << (o.token.empty() ? "" : "?token=" + o.token)
            << std::endl;
  g_server = &server;
  signal(SIGINT, on_stop);
  signal(SIGTERM, on_stop);
  signal(SIGPIPE, SIG_IGN);
  server.listen_after_bind();
  g_server = nullptr;
  return 0;
}

}  // namespace anneal::ui
