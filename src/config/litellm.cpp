// A LiteLLM config.yaml as mcpgw's JSON config: its mcp_servers mapped server by server
// (litellm_server.cpp), its other sections named and ignored, and mcpgw's own settings from a
// top-level `mcpgw` section, which is the `gateway` object of a JSON config.
#include "config/litellm.hpp"
#include "config/litellm_yaml.hpp"
#include "config/reader.hpp"
#include "common/text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mcpgw::config {

namespace {

namespace json = boost::json;
using litellm::Mapping;
using litellm::ServerMap;

/// Why mcpgw ignores a top-level key of a LiteLLM config.
std::string why_ignored(std::string_view key) {
  if (key == "environment_variables") {
    return "mcpgw does not set environment variables from its config: export them where mcpgw "
           "runs (their values are not copied)";
  }
  if (key == "gateway") {
    return "mcpgw's own settings go in a top-level mcpgw section of a YAML config";
  }
  if (key == "mcpServers") {
    return "mcpgw reads a .yaml file as a LiteLLM config, whose servers are mcp_servers; an "
           "mcpgw config is JSON";
  }
  return "not an MCP setting; mcpgw ignores it";
}

/// litellm_settings.mcp_aliases renames servers in LiteLLM; mcpgw takes the server's own alias.
void warn_mcp_aliases(const YAML::Node& settings, Diagnostics& diag) {
  if (!settings.IsMap()) {
    return;
  }
  if (const YAML::Node aliases = settings["mcp_aliases"]; aliases) {
    diag.warn("litellm_settings.mcp_aliases",
              fmt::format("not applied: give the server an alias in mcp_servers instead{}",
                          litellm::at(aliases)));
  }
}

/// allowed_tools and disallowed_tools: mcpgw filters tools per key, not per server. Says how,
/// with the names mcpgw exposes.
void hint_tool_filters(const std::vector<ServerMap>& servers, const std::string& separator,
                       Diagnostics& diag) {
  for (const auto& sm : servers) {
    std::string list;
    auto add = [&](const std::string& item) { list += list.empty() ? item : "," + item; };
    if (!sm.allowed_tools.empty()) {
      for (const auto& tool : sm.allowed_tools) {
        add(sm.name + separator + tool);
      }
      for (const auto& other : servers) {
        if (other.name != sm.name) {
          add(other.name + separator + "*");
        }
      }
      diag.warn(sm.path + ".allowed_tools",
                fmt::format("not applied: every tool of this server is served. mcpgw limits "
                            "tools per key: mcpgw keys create --name NAME --tools '{}'", list));
    }
    if (!sm.disallowed_tools.empty()) {
      list.clear();
      for (const auto& tool : sm.disallowed_tools) {
        add(sm.name + separator + tool);
      }
      diag.warn(sm.path + ".disallowed_tools",
                sm.allowed_tools.empty()
                    ? fmt::format("not applied: every tool of this server is served. mcpgw "
                                  "limits tools per key: mcpgw keys create --name NAME "
                                  "--deny-tools '{}'", list)
                    : std::string("ignored: allowed_tools takes priority, as in LiteLLM"));
    }
  }
}

/// The `mcpgw` section (mcpgw's `gateway` object) with each server's generated options merged
/// in; what the section says itself wins.
json::object gateway_section(const YAML::Node* section, const std::vector<ServerMap>& servers,
                             Mapping& m) {
  json::object gateway;
  if (section != nullptr && !section->IsNull()) {
    json::value v = litellm::to_json(*section, "mcpgw", m.diag);
    if (v.is_object()) {
      gateway = std::move(v.get_object());
      m.note("mcpgw → gateway");
    } else {
      m.diag.error("mcpgw", fmt::format("expected a mapping (mcpgw's gateway settings), got {}{}",
                                        litellm::describe(*section), litellm::at(*section)));
    }
  }
  for (const auto& sm : servers) {
    if (sm.options.empty()) {
      continue;
    }
    json::value& all = gateway["servers"];
    if (all.is_null()) {
      all = json::object();
    }
    if (!all.is_object()) {
      return gateway;  // the JSON parser says what is wrong with it
    }
    json::value& mine = all.get_object()[sm.name];
    if (!mine.is_object()) {
      mine = sm.options;
      continue;
    }
    for (const auto& kv : sm.options) {
      const std::string path = fmt::format("gateway.servers.{}.{}", sm.name,
                                           std::string_view(kv.key()));
      if (mine.get_object().contains(kv.key())) {
        m.diag.warn(fmt::format("mcpgw.servers.{}.{}", sm.name, std::string_view(kv.key())),
                    fmt::format("replaces what {} gave", sm.path));
        std::erase_if(m.out.origins, [&](const auto& o) { return o.first == path; });
      } else {
        mine.get_object()[kv.key()] = kv.value();
      }
    }
  }
  return gateway;
}

/// --keep-litellm-names: the separator "-" that LiteLLM's tool names use.
void keep_litellm_names(json::object& gateway, Mapping& m) {
  if (const auto* sep = gateway.if_contains("separator");
      sep != nullptr && !(sep->is_string() && sep->get_string() == "-")) {
    m.diag.warn("mcpgw.separator", "replaced by \"-\" (--keep-litellm-names)");
  }
  gateway["separator"] = "-";
  m.note("--keep-litellm-names → gateway.separator: \"-\" (tools keep LiteLLM's names, "
         "server-tool)");
}

/// Maps every entry of mcp_servers into `servers` (by mcpgw name); two entries of one name
/// (by alias) are an error.
std::vector<ServerMap> map_servers(const YAML::Node& node, json::object& servers, Mapping& m) {
  std::vector<ServerMap> out;
  if (node.IsNull()) {
    return out;  // "mcp_servers:" with nothing under it: no servers, as in LiteLLM
  }
  for (auto& [key, value] : litellm::entries(node, "mcp_servers", m.diag)
                                .value_or(litellm::Entries{})) {
    auto sm = litellm::map_server(key, value, m);
    if (!sm) {
      continue;
    }
    if (servers.contains(sm->name)) {
      m.diag.error(sm->path, fmt::format("two servers would be named \"{}\" (see their alias)",
                                         sm->name));
      continue;
    }
    servers[sm->name] = sm->server;
    out.push_back(std::move(*sm));
  }
  return out;
}

/// The document of a LiteLLM config's root mapping.
void convert_root(const YAML::Node& root, const LiteLlmOptions& options, Mapping& m) {
  const auto top = litellm::entries(root, "(top level)", m.diag);
  if (!top) {
    return;
  }
  json::object servers;
  std::vector<ServerMap> mapped;
  const YAML::Node* section = nullptr;
  bool has_servers = false;
  for (const auto& [key, value] : *top) {
    if (key == "mcp_servers") {
      has_servers = true;
      mapped = map_servers(value, servers, m);
    } else if (key == "mcpgw") {
      section = &value;
    } else {
      m.diag.warn(key, why_ignored(key) + litellm::at(value));
      if (key == "litellm_settings") {
        warn_mcp_aliases(value, m.diag);
      }
    }
  }
  if (!has_servers) {
    m.diag.error("mcp_servers", "missing (the MCP servers to serve, as LiteLLM's config.yaml "
                                "lists them)");
  }
  json::object gateway = gateway_section(section, mapped, m);
  if (options.keep_litellm_names) {
    keep_litellm_names(gateway, m);
  }
  const auto* sep = gateway.if_contains("separator");
  hint_tool_filters(mapped, sep != nullptr && sep->is_string() ? std::string(sep->get_string())
                                                               : GatewayConfig{}.separator,
                    m.diag);
  json::object doc;
  doc["mcpServers"] = std::move(servers);
  if (!gateway.empty()) {
    doc["gateway"] = std::move(gateway);
  }
  m.out.doc = std::move(doc);
  m.origin("mcpServers", "mcp_servers");
  m.origin("gateway", "mcpgw");
}

/// Whether `line` (a "path: message" diagnostic) starts with the path `prefix` or one under it.
bool under(std::string_view line, std::string_view prefix) {
  if (line.size() <= prefix.size() || line.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  const char next = line[prefix.size()];
  return next == '.' || next == '[' || next == ':';
}

}  // namespace

bool is_yaml_path(std::string_view path) {
  const std::string name = lower(path);
  auto ends = [&](std::string_view ext) {
    return name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
  };
  return ends(".yaml") || ends(".yml");
}

std::optional<LiteLlmConversion> convert_litellm(std::string_view text, const std::string& file,
                                                 const LiteLlmOptions& options, Diagnostics& diag) {
  LiteLlmConversion out;
  Mapping m{diag, out};
  const std::size_t errors_before = diag.errors.size();
  // yaml-cpp reports problems by throwing: they end here, as diagnostics.
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) {
      diag.error(file, "empty: expected a LiteLLM config with mcp_servers");
      return std::nullopt;
    }
    convert_root(root, options, m);
  } catch (const YAML::Exception& e) {
    diag.error(file, fmt::format("not valid YAML at line {}, column {}: {}", e.mark.line + 1,
                                 e.mark.column + 1, e.msg));
    return std::nullopt;
  }
  if (diag.errors.size() != errors_before) {
    return std::nullopt;
  }
  return out;
}

void translate_paths(const std::vector<std::pair<std::string, std::string>>& origins,
                     const Diagnostics& from, Diagnostics& into) {
  auto translate = [&](const std::string& line) {
    const std::pair<std::string, std::string>* best = nullptr;
    for (const auto& o : origins) {
      if (under(line, o.first) && (best == nullptr || o.first.size() >= best->first.size())) {
        best = &o;
      }
    }
    return best == nullptr ? line : best->second + line.substr(best->first.size());
  };
  for (const auto& e : from.errors) {
    into.errors.push_back(translate(e));
  }
  for (const auto& w : from.warnings) {
    into.warnings.push_back(translate(w));
  }
}

std::optional<Config> parse_litellm(std::string_view text, const std::string& file,
                                    const std::string& base_dir, Diagnostics& diag,
                                    const EnvLookup& env, const LiteLlmOptions& options,
                                    LiteLlmConversion* conversion) {
  auto converted = convert_litellm(text, file, options, diag);
  if (!converted) {
    return std::nullopt;
  }
  // The JSON config's parser, every check of it; its paths back in the LiteLLM file's terms.
  Diagnostics parsed;
  auto cfg = parse(converted->doc, base_dir, parsed, env);
  translate_paths(converted->origins, parsed, diag);
  if (conversion != nullptr) {
    *conversion = std::move(*converted);
  }
  return cfg;
}

}  // namespace mcpgw::config
