#include "jobs/config_tree.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdlib>
#include <regex>

#include "core/read_file.h"
#include "core/utf8.h"

namespace anneal::jobs {

std::string Origin::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line);
}

const Node* Node::find(const std::string& key) const {
  for (auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}
Node* Node::find(const std::string& key) {
  for (auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}
Node& Node::set(const std::string& key, Node value, Origin key_origin) {
  kind = Kind::Map;
  for (size_t i = 0; i < map.size(); ++i)
    if (map[i].first == key) {
      map[i].second = std::move(value);
      key_origins[i] = std::move(key_origin);
      return map[i].second;
    }
  map.emplace_back(key, std::move(value));
  key_origins.push_back(std::move(key_origin));
  return map.back().second;
}
bool Node::erase(const std::string& key) {
  for (size_t i = 0; i < map.size(); ++i)
    if (map[i].first == key) {
      map.erase(map.begin() + long(i));
      key_origins.erase(key_origins.begin() + long(i));
      return true;
    }
  return false;
}

std::optional<bool> Node::as_bool() const {
  if (!is_scalar() || quoted) return std::nullopt;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}
std::optional<int64_t> Node::as_int() const {
  if (!is_scalar() || quoted) return std::nullopt;
  static const std::regex re(R"([-+]?[0-9]+)");
  if (!std::regex_match(text, re)) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno == ERANGE) return std::nullopt;
  return static_cast<int64_t>(v);
}
std::optional<double> Node::as_number() const {
  if (!is_scalar() || quoted) return std::nullopt;
  static const std::regex re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, re)) return std::strtod(text.c_str(), nullptr);
  if (text == ".inf" || text == "+.inf" || text == ".Inf") return INFINITY;
  if (text == "-.inf" || text == "-.Inf") return -INFINITY;
  if (text == ".nan" || text == ".NaN") return NAN;
  return std::nullopt;
}
std::string Node::describe() const {
  switch (kind) {
    case Kind::Null: return "nothing (null)";
    case Kind::Map: return "a map";
    case Kind::List: return "a list";
    case Kind::Scalar:
      if (as_bool()) return "the boolean " + text;
      if (as_number()) return "the number " + text;
      return "the string '" + (text.size() > 60 ? text.substr(0, 60) + "..." : text) + "'";
  }
  return "?";
}

Node scalar(std::string text, bool quoted, Origin origin) {
  Node n;
  n.kind = Node::Kind::Scalar;
  n.text = std::move(text);
  n.quoted = quoted;
  n.origin = std::move(origin);
  return n;
}

namespace {

// Aliases let a few lines expand into billions of values ("billion laughs"): every value
// counts against a budget.
constexpr size_t kMaxValues = 200000;

Node convert(const YAML::Node& y, const std::string& file, int depth, size_t& budget) {
  if (depth > 64) throw JobError(str(file, ":", y.Mark().line + 1, ": the YAML nests deeper than 64 levels"));
  if (budget == 0)
    throw JobError(str(file, ": the YAML holds more than ", kMaxValues, " values (aliases repeated too often?)"));
  --budget;
  Node n;
  n.origin = {file, y.Mark().line + 1};
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: n.kind = Node::Kind::Null; break;
    case YAML::NodeType::Scalar:
      n.kind = Node::Kind::Scalar;
      n.text = y.Scalar();
      n.quoted = y.Tag() == "!";  // yaml-cpp tags quoted scalars "!", plain ones "?"
      break;
    case YAML::NodeType::Sequence:
      n.kind = Node::Kind::List;
      for (const auto& item : y) n.list.push_back(convert(item, file, depth + 1, budget));
      break;
    case YAML::NodeType::Map:
      n.kind = Node::Kind::Map;
      for (const auto& kv : y) {
        if (!kv.first.IsScalar())
          throw JobError(str(file, ":", kv.first.Mark().line + 1, ": a map key must be a plain name"));
        const std::string key = kv.first.Scalar();
        if (n.find(key))
          throw JobError(str(file, ":", kv.first.Mark().line + 1, ": the key '", key, "' appears twice"));
        n.map.emplace_back(key, convert(kv.second, file, depth + 1, budget));
        n.key_origins.push_back({file, kv.first.Mark().line + 1});
      }
      break;
  }
  return n;
}

}  // namespace

Node parse_yaml(const std::string& text, const std::string& origin_name) {
  // YAML is Unicode: bytes that are not UTF-8 would come back changed in resolved.yaml
  const size_t bad = first_invalid_utf8(text);
  if (bad != std::string::npos) {
    const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + long(bad), '\n'));
    throw JobError(str(origin_name, ":", line, ": not valid UTF-8 (byte ", bad, "); YAML files are Unicode text"));
  }
  try {
    YAML::Node y = YAML::Load(text);
    size_t budget = kMaxValues;
    return convert(y, origin_name, 0, budget);
  } catch (const YAML::ParserException& e) {
    throw JobError(str(origin_name, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  } catch (const YAML::Exception& e) {
    throw JobError(str(origin_name, ": not valid YAML: ", e.what()));
  }
}

Node load_yaml_file(const std::string& path) {
  return parse_yaml(read_whole_file(path, "job file", 16 << 20), path);
}

namespace {
void emit(YAML::Emitter& out, const Node& n) {
  switch (n.kind) {
    case Node::Kind::Null: out << YAML::Null; break;
    case Node::Kind::Scalar:
      // keep strings strings: quote one whose text would read back as a number or boolean
      if (n.quoted && (n.as_bool().has_value() || n.text.empty() || scalar(n.text, false, {}).as_number() ||
                       scalar(n.text, false, {}).as_bool() || n.text == "null" || n.text == "~"))
        out << YAML::DoubleQuoted << n.text;
      else
        out << n.text;
      break;
    case Node::Kind::List:
      out << YAML::BeginSeq;
      for (auto& i : n.list) emit(out, i);
      out << YAML::EndSeq;
      break;
    case Node::Kind::Map:
      out << YAML::BeginMap;
      for (auto& [k, v] : n.map) {
        out << YAML::Key << k << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
  }
}
}  // namespace

std::string to_yaml(const Node& node) {
  YAML::Emitter out;
  emit(out, node);
  return std::string(out.c_str()) + "\n";
}

void merge_into(Node& base, const Node& over) {
  if (base.is_map() && over.is_map()) {
    for (size_t i = 0; i < over.map.size(); ++i) {
      const auto& [k, v] = over.map[i];
      Node* mine = base.find(k);
      if (mine && mine->is_map() && v.is_map()) merge_into(*mine, v);
      else base.set(k, v, over.key_origins[i]);
    }
    return;
  }
  base = over;
}

void apply_set(Node& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw JobError(str("--set ", assignment, ": expected key.path=value"));
  const std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const Origin origin{"--set " + path, 0};
  Node v = value.empty() ? scalar("", true, origin) : parse_yaml(value, "--set " + path);
  // a value given on the command line carries the --set as its origin, all the way down
  std::function<void(Node&)> stamp = [&](Node& n) {
    n.origin = origin;
    for (auto& o : n.key_origins) o = origin;
    for (auto& [k, c] : n.map) stamp(c);
    for (auto& c : n.list) stamp(c);
  };
  stamp(v);
  if (root.kind == Node::Kind::Null) root.kind = Node::Kind::Map;
  Node* at = &root;
  size_t start = 0;
  for (;;) {
    const auto dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) throw JobError(str("--set ", assignment, ": the key path '", path, "' has an empty part"));
    if (dot == std::string::npos) {
      at->set(key, std::move(v), origin);
      return;
    }
    Node* next = at->find(key);
    if (!next || !next->is_map()) {
      if (next && next->kind != Node::Kind::Null)
        throw JobError(str("--set ", assignment, ": '", path.substr(0, dot), "' is ", next->describe(),
                           " in the job, not a map"));
      Node m;
      m.kind = Node::Kind::Map;
      m.origin = origin;
      next = &at->set(key, std::move(m), origin);
    }
    at = next;
    start = dot + 1;
  }
}

}  // namespace anneal::jobs
