#pragma once
// LiteLLM's config.yaml as an mcpgw config. Each entry of its `mcp_servers` becomes one entry of
// `mcpServers` (and, for what mcpgw keeps per server, of `gateway.servers`); the result is the
// JSON document an mcpgw config file would be, read by the same parser as one, so every check
// of a JSON config applies. What LiteLLM has and mcpgw does not is a warning that says why.
#include "config/config.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw::config {

struct LiteLlmOptions {
  /// Separator "-": tools keep the names LiteLLM gave them ("github-create_issue").
  bool keep_litellm_names = false;
};

/// What converting a LiteLLM config gave.
struct LiteLlmConversion {
  /// {"mcpServers": {...}, "gateway": {...}}, before ${ENV} expansion.
  boost::json::value doc;
  /// One line per mapping done ("mcp_servers.github → mcpServers.github (http, https://…)").
  /// Secrets never appear in them: an environment variable shows as ${NAME}, a literal as "…".
  std::vector<std::string> mapped;
  /// JSON path of the document → the LiteLLM key it came from, so that the JSON parser's
  /// diagnostics name what the user wrote ("mcpServers.gh.url" → "mcp_servers.gh.url").
  std::vector<std::pair<std::string, std::string>> origins;
  /// Environment variables the config reads (os.environ/NAME).
  std::set<std::string> env_vars;
};

/// True for a file name ending in .yaml or .yml (any case).
bool is_yaml_path(std::string_view path);

/// Converts a LiteLLM config's text. YAML mistakes say their line and column; mapping problems
/// name the LiteLLM key ("mcp_servers.github.auth_type: …"). Nullopt if any error was recorded.
std::optional<LiteLlmConversion> convert_litellm(std::string_view text, const std::string& file,
                                                 const LiteLlmOptions& options, Diagnostics& diag);

/// Converts and parses a LiteLLM config: the same as `parse` on the converted document, with
/// its diagnostics naming the LiteLLM keys. `conversion`, when given, receives the conversion.
std::optional<Config> parse_litellm(std::string_view text, const std::string& file,
                                    const std::string& base_dir, Diagnostics& diag,
                                    const EnvLookup& env, const LiteLlmOptions& options = {},
                                    LiteLlmConversion* conversion = nullptr);

/// Rewrites the path at the start of each diagnostic of `from` by `origins` (longest match)
/// and appends it to `into`.
void translate_paths(const std::vector<std::pair<std::string, std::string>>& origins,
                     const Diagnostics& from, Diagnostics& into);

}  // namespace mcpgw::config
