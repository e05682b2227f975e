#include "tracking/run_query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace anneal::tracking {
namespace {

std::string fmt(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
std::optional<double> as_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

const char* kOwnFields[] = {"id", "name", "experiment", "status", "kind", "created", "duration", "host", "parent"};

}  // namespace

bool is_run_field(const std::string& f) {
  for (const char* p : {"metric.", "param.", "tag."})
    if (f.rfind(p, 0) == 0 && f.size() > std::string(p).size()) return true;
  for (const char* o : kOwnFields)
    if (f == o) return true;
  return false;
}

std::optional<std::string> run_field(const RunRecord& r, const std::string& f) {
  if (f.rfind("metric.", 0) == 0) {
    auto it = r.metrics.find(f.substr(7));
    if (it == r.metrics.end() || std::isnan(it->second.last)) return std::nullopt;
    return fmt(it->second.last);
  }
  if (f.rfind("param.", 0) == 0) {
    auto it = r.params.find(f.substr(6));
    if (it == r.params.end()) return std::nullopt;
    return it->second;
  }
  if (f.rfind("tag.", 0) == 0) {
    auto it = r.tags.find(f.substr(4));
    if (it == r.tags.end()) return std::nullopt;
    return it->second;
  }
  if (f == "id") return r.id;
  if (f == "name") return r.name;
  if (f == "experiment") return r.experiment;
  if (f == "status") return r.status;
  if (f == "kind") return r.kind;
  if (f == "host") return r.host;
  if (f == "parent") return r.parent;
  if (f == "created") return fmt(r.created);
  if (f == "duration") {
    if (r.started <= 0) return std::nullopt;
    const double end = r.ended > 0 ? r.ended : r.heartbeat > 0 ? r.heartbeat : r.started;
    return fmt(end - r.started);
  }
  return std::nullopt;
}

RunFilter::RunFilter(const std::string& e) {
  size_t i = 0;
  auto skip = [&] {
    while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
  };
  auto fail = [&](const std::string& what) {
    throw ValueError(str("--where \"", e, "\": at position ", i + 1, ": ", what));
  };
  auto word = [&] {
    skip();
    size_t start = i;
    while (i < e.size() && !std::isspace(static_cast<unsigned char>(e[i])) && !std::strchr("=!<>~", e[i])) ++i;
    return e.substr(start, i - start);
  };
  std::vector<Cond> current;
  for (;;) {
    Cond c;
    c.field = word();
    if (c.field.empty()) fail("expected a field (metric.KEY, param.KEY, tag.KEY, status, name, ...)");
    if (!is_run_field(c.field))
      fail("unknown field '" + c.field + "' (fields: metric.KEY, param.KEY, tag.KEY, id, name, experiment, status, "
           "kind, created, duration, host, parent)");
    skip();
    for (const char* op : {"==", "!=", "<=", ">=", "=", "<", ">", "~"}) {
      const std::string o = op;
      if (e.compare(i, o.size(), o) == 0) {
        c.op = o == "==" ? "=" : o;
        i += o.size();
        break;
      }
    }
    if (c.op.empty()) fail("expected an operator (=, !=, <, <=, >, >=, ~) after '" + c.field + "'");
    skip();
    if (i < e.size() && (e[i] == '\'' || e[i] == '"')) {
      const char q = e[i++];
      size_t end = e.find(q, i);
      if (end == std::string::npos) fail("the quoted value is not closed");
      c.value = e.substr(i, end - i);
      i = end + 1;
    } else {
      size_t start = i;
      while (i < e.size() && !std::isspace(static_cast<unsigned char>(e[i]))) ++i;
      c.value = e.substr(start, i - start);
      if (c.value.empty() || std::strchr("=!<>~", c.value[0]))
        fail("expected a value after '" + c.op + "' (quote a value that starts with an operator)");
    }
    current.push_back(c);
    skip();
    if (i >= e.size()) break;
    const std::string joiner = word();
    if (joiner == "and" || joiner == "AND") continue;
    if (joiner == "or" || joiner == "OR") {
      any_of_.push_back(std::move(current));
      current.clear();
      continue;
    }
    fail("expected 'and' or 'or', got '" + joiner + "'");
  }
  any_of_.push_back(std::move(current));
}

bool RunFilter::matches(const RunRecord& r) const {
  if (any_of_.empty()) return true;
  for (auto& all : any_of_) {
    bool ok = true;
    for (auto& c : all) {
      auto v = run_field(r, c.field);
      if (!v) {
        ok = false;
        break;
      }
      if (c.op == "~") {
        ok = v->find(c.value) != std::string::npos;
      } else {
        auto a = as_number(*v), b = as_number(c.value);
        int cmp;
        if (a && b) cmp = *a < *b ? -1 : *a > *b ? 1 : 0;
        else cmp = v->compare(c.value) < 0 ? -1 : v->compare(c.value) > 0 ? 1 : 0;
        ok = c.op == "=" ? cmp == 0 : c.op == "!=" ? cmp != 0 : c.op == "<" ? cmp < 0 : c.op == "<=" ? cmp <= 0
           : c.op == ">" ? cmp > 0 : cmp >= 0;
      }
      if (!ok) break;
    }
    if (ok) return true;
  }
  return false;
}

void sort_runs(std::vector<RunRecord>& runs, const std::string& key) {
  if (key.empty()) return;
  const bool desc = key[0] == '-';
  const std::string f = key[0] == '-' || key[0] == '+' ? key.substr(1) : key;
  ANNEAL_CHECK(is_run_field(f), ValueError, "--sort ", key, ": unknown field '", f,
               "' (metric.KEY, param.KEY, tag.KEY, id, name, experiment, status, kind, created, duration)");
  std::stable_sort(runs.begin(), runs.end(), [&](const RunRecord& x, const RunRecord& y) {
    auto a = run_field(x, f), b = run_field(y, f);
    if (!a || !b) return a.has_value() && !b.has_value();  // missing last
    auto na = as_number(*a), nb = as_number(*b);
    if (na && nb) return desc ? *na > *nb : *na < *nb;
    return desc ? *a > *b : *a < *b;
  });
}

}  // namespace anneal::tracking
