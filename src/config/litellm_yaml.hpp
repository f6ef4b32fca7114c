#pragma once
// The parts of reading a LiteLLM config that litellm.cpp, litellm_server.cpp and
// litellm_yaml.cpp share (not part of the config module's interface): YAML nodes read with
// their LiteLLM path and line for diagnostics, and LiteLLM's os.environ/NAME values.
#include "config/litellm.hpp"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw::config::litellm {

namespace json = boost::json;

/// " (line 7)": where a node is, for diagnostics; empty for a node that is not in the file.
std::string at(const YAML::Node& node);

/// "a string", "a list", "a mapping" or "nothing": what a YAML node is, for error messages.
std::string describe(const YAML::Node& node);

/// A mapping's keys with their values, in file order.
using Entries = std::vector<std::pair<std::string, YAML::Node>>;

/// The entries of the mapping at `node`; nullopt (with an error) when it is not a mapping, a
/// key is not a plain value, or a key is given twice (LiteLLM would silently keep the last).
std::optional<Entries> entries(const YAML::Node& node, const std::string& path, Diagnostics& diag);

/// A YAML value as JSON. Unquoted scalars follow YAML 1.2's core schema (null, true/false,
/// integers, decimals); quoted ones stay strings.
json::value to_json(const YAML::Node& node, const std::string& path, Diagnostics& diag);

/// The variable of a value that is exactly "${NAME}" (what os.environ/NAME becomes), else empty.
std::string env_name(std::string_view value);

/// The conversion under way: its result, and where its problems go.
struct Mapping {
  Diagnostics& diag;
  LiteLlmConversion& out;

  void note(std::string line) { out.mapped.push_back(std::move(line)); }
  void origin(std::string json_path, std::string litellm_path) {
    out.origins.emplace_back(std::move(json_path), std::move(litellm_path));
  }
};

/// One mcp_servers entry's settings: typed getters that report mistakes with the LiteLLM path
/// and line, turn os.environ/NAME into mcpgw's ${NAME}, and remember which keys were read.
class Settings {
 public:
  Settings(Entries entries, std::string path, Mapping& m)
      : entries_(std::move(entries)), path_(std::move(path)), m_(m) {}

  /// The value of `key` (marked as read), or null when absent.
  const YAML::Node* get(std::string_view key);
  bool has(std::string_view key) const;
  /// "mcp_servers.NAME.key".
  std::string path(std::string_view key) const;
  /// path(key) and the line of its value, for messages: "mcp_servers.gh.url (line 4)".
  std::string where(std::string_view key) const;

  /// A scalar as text, os.environ/NAME as ${NAME}; nullopt when absent or not a scalar (an error).
  std::optional<std::string> str(std::string_view key);
  /// A list of scalars; nullopt when absent or not a list (an error).
  std::optional<std::vector<std::string>> strings(std::string_view key);
  /// A mapping of scalars, in file order; nullopt when absent or not a mapping (an error).
  std::optional<Entries> pairs(std::string_view key);
  /// A scalar entry's text with os.environ/NAME as ${NAME} (`path` names it in errors).
  std::string value(const YAML::Node& node, const std::string& path);

  /// The keys never read, in file order.
  std::vector<std::string> unread() const;
  Mapping& mapping() { return m_; }

 private:
  /// The value of `key` when it is of `type`; null when absent, or (with an error saying that
  /// `what` was expected) of another type.
  const YAML::Node* typed(std::string_view key, YAML::NodeType::value type, std::string_view what);

  Entries entries_;
  std::string path_;
  Mapping& m_;
  std::set<std::string> read_;
};

/// One server as mcpgw will have it.
struct ServerMap {
  std::string key;        ///< its key under mcp_servers
  std::string name;       ///< its mcpgw name: LiteLLM's alias, else the key
  std::string path;       ///< "mcp_servers.KEY"
  json::object server;    ///< its mcpServers entry
  json::object options;   ///< its gateway.servers entry (may be empty)
  std::vector<std::string> allowed_tools, disallowed_tools;
};

/// Maps one mcp_servers entry. Nullopt when it is not imported (an error, or a warning saying
/// why: an OpenAPI spec is not an MCP server).
std::optional<ServerMap> map_server(const std::string& key, const YAML::Node& node, Mapping& m);

}  // namespace mcpgw::config::litellm
