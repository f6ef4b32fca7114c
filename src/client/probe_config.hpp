#pragma once
// The configs that make each client use a server the way the probe found working: Claude
// Code's command, .mcp.json, Claude Desktop (through `mcpgw stdio`) and mcpgw's own config.
#include "client/header_arg.hpp"
#include "upstream/http_client.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::client {

/// What a header value is shown as unless the user asks to see secrets.
inline constexpr std::string_view kHiddenValue = "<value you passed>";

/// A server name from the URL's host: "mcp.notion.com" → "notion", "127.0.0.1:8080" →
/// "local_8080"; only [a-z0-9_].
std::string name_from_url(const upstream::Url& url);
/// `text` made a name: lower case, runs of anything but [a-z0-9_] become one '_'; "server" when
/// nothing is left.
std::string sanitize_name(std::string_view text);

/// `value` as a config may show it: as given with `show`, else kHiddenValue after any
/// authorization scheme ("Bearer <value you passed>").
std::string shown_value(std::string_view value, bool show);

struct ClientConfigs {
  std::string claude_code;          ///< a shell command line
  boost::json::object mcp_json;     ///< .mcp.json
  boost::json::object claude_desktop;
  boost::json::object mcpgw;        ///< mcpgw's config file
};

/// The configs for server `name` at `url` over `transport` ("http" or "sse").
ClientConfigs client_configs(std::string_view name, std::string_view transport,
                             std::string_view url, const std::vector<Header>& headers,
                             bool show_secrets);

/// `s` quoted for a POSIX shell when it needs to be.
std::string shell_quote(std::string_view s);

}  // namespace mcpgw::client
