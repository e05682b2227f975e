#pragma once
// A configuration tree that remembers where each value came from (file and line, or the
// --set that gave it), so that every error about a job file can point at the line. YAML
// is read into it (yaml-cpp), merged with its base files and the --set overrides, checked
// against the schema, substituted, and written back out as resolved.yaml.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace anneal::jobs {

// A job file that cannot be used: the message names the file, line, key path and what was
// expected.
class JobError : public ValueError {
 public:
  using ValueError::ValueError;
};

struct Origin {
  std::string file;  // the YAML file, or "--set"
  int line = 0;      // 1-based; 0: none
  std::string str() const;  // "job.yaml:12", "--set"
};

struct MapEntry;

struct Node {
  enum class Kind { Null, Scalar, Map, List };
  Kind kind = Kind::Null;
  std::string text;    // a scalar's text
  bool quoted = false; // a quoted scalar is a string whatever its text
  std::vector<MapEntry> map;  // in file order (key, value) entries
  std::vector<Node> list;
  Origin origin;
  std::vector<Origin> key_origins;  // the line of each map key (parallel to `map`)

  bool is_map() const { return kind == Kind::Map; }
  bool is_scalar() const { return kind == Kind::Scalar; }
  const Node* find(const std::string& key) const;
  Node* find(const std::string& key);
  Node& set(const std::string& key, Node value, Origin key_origin);  // replaces or appends
  bool erase(const std::string& key);

  // Typed views of a scalar under YAML 1.2's core schema (plain scalars only for
  // non-strings); nullopt when it is not one.
  std::optional<bool> as_bool() const;
  std::optional<int64_t> as_int() const;
  std::optional<double> as_number() const;
  std::string describe() const;  // "the string 'abc'", "a map", "a list", "null"
};

// A map's entry. (Not std::pair<std::string, Node>: a pair needs Node complete, and a
// vector of entries inside Node may only name an incomplete type.)
struct MapEntry {
  std::string first;
  Node second;
  MapEntry(std::string k, Node v) : first(std::move(k)), second(std::move(v)) {}
};

Node scalar(std::string text, bool quoted, Origin origin);

// Reads a YAML file (a syntax error names the file and line).
Node load_yaml_file(const std::string& path);
Node parse_yaml(const std::string& text, const std::string& origin_name);
// Writes the tree as YAML (scalars that would read back as another type are quoted).
std::string to_yaml(const Node& node);

// `over` merged into `base`: maps merge key by key (recursively), anything else replaces.
void merge_into(Node& base, const Node& over);

// "optimizer.lr=0.01": sets the dotted path (creating maps on the way); the value is read
// as YAML ("[1, 2]", "true", "'0.1'").
void apply_set(Node& root, const std::string& assignment);

}  // namespace anneal::jobs
