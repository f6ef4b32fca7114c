#pragma once
// Who is calling, and what they may use. A principal comes from an API key (or, later, a
// token); lists show only what it may use, and every call is checked again.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::access {

/// Shell-style match: `*` any run of characters, `?` one character. No character classes.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

struct Principal {
  std::string name;                     ///< key name (or token subject)
  std::vector<std::string> servers;     ///< allowed servers; empty = all
  std::vector<std::string> tools;       ///< allowed tool globs on exposed names; empty = all
  std::vector<std::string> deny_tools;  ///< denied tool globs on exposed names

  bool allows_server(std::string_view server) const noexcept;
  /// `exposed` is the name as the aggregate endpoint shows it ("github__create_issue").
  bool allows_tool(std::string_view server, std::string_view exposed) const noexcept;
};

using PrincipalPtr = std::shared_ptr<const Principal>;

}  // namespace mcpgw::access
