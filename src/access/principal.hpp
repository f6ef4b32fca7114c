#pragma once
// Who is calling, and what they may use. A principal comes from an API key (one grant) or an
// OAuth token (one grant per scope it carries); lists show only what it may use, and every call
// is checked again.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::access {

/// Shell-style match: `*` any run of characters, `?` one character. No character classes.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

/// One set of permissions: servers, then denied tools, then allowed tools.
struct Grant {
  std::vector<std::string> servers;     ///< allowed servers; empty = all
  std::vector<std::string> tools;       ///< allowed tool globs on exposed names; empty = all
  std::vector<std::string> deny_tools;  ///< denied tool globs on exposed names

  bool allows_server(std::string_view server) const noexcept;
  bool allows_tool(std::string_view server, std::string_view exposed) const noexcept;
  /// Whether every tool of `server` is allowed: no denied globs, and no allowed globs or one
  /// that matches any name (`*`, or `prefix*` where `prefix` starts every exposed name).
  bool allows_every_tool(std::string_view server, std::string_view prefix) const noexcept;
};

struct Principal {
  std::string name;           ///< key name, or "jwt:" + the token's subject
  std::vector<Grant> grants;  ///< what is allowed by any grant is allowed; none = nothing

  bool allows_server(std::string_view server) const noexcept;
  /// `exposed` is the name as the aggregate endpoint shows it ("github__create_issue").
  bool allows_tool(std::string_view server, std::string_view exposed) const noexcept;
  /// Whether some grant allows every tool of `server` (see Grant::allows_every_tool). What
  /// reaches a server outside tools/call (methods the gateway does not know) needs this.
  bool allows_every_tool(std::string_view server, std::string_view prefix) const noexcept;
};

using PrincipalPtr = std::shared_ptr<const Principal>;

}  // namespace mcpgw::access
