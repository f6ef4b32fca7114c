#pragma once
// The `--header "Name: value"` arguments of the client-side commands (stdio, probe), as
// `claude mcp add --header` takes them.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw::client {

using Header = std::pair<std::string, std::string>;

/// Splits "Name: value" (or "Name:value") into its name and value, trimmed. False with `error`
/// when there is no colon, the name is empty or holds a character not allowed in a header name,
/// or either part holds a line break.
bool parse_header_arg(std::string_view arg, Header& out, std::string& error);

/// Parses every argument; false with `error` naming the first bad one.
bool parse_header_args(const std::vector<std::string>& args, std::vector<Header>& out,
                       std::string& error);

}  // namespace mcpgw::client
