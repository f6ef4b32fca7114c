#include "access/principal.hpp"

#include <algorithm>

namespace mcpgw::access {

bool glob_match(std::string_view p, std::string_view t) noexcept {
  // Iterative match with one backtrack point: linear in practice, no recursion.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') {
    ++pi;
  }
  return pi == p.size();
}

bool Grant::allows_server(std::string_view server) const noexcept {
  return servers.empty() || std::find(servers.begin(), servers.end(), server) != servers.end();
}

bool Principal::allows_server(std::string_view server) const noexcept {
  return std::any_of(grants.begin(), grants.end(),
                     [&](const Grant& g) { return g.allows_server(server); });
}

bool Principal::allows_tool(std::string_view server, std::string_view exposed) const noexcept {
  return std::any_of(grants.begin(), grants.end(),
                     [&](const Grant& g) { return g.allows_tool(server, exposed); });
}

bool Grant::allows_tool(std::string_view server, std::string_view exposed) const noexcept {
  if (!allows_server(server)) {
    return false;
  }
  auto any = [&](const std::vector<std::string>& globs) {
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& g) { return glob_match(g, exposed); });
  };
  if (any(deny_tools)) {
    return false;
  }
  return tools.empty() || any(tools);
}

bool Grant::allows_every_tool(std::string_view server, std::string_view prefix) const noexcept {
  if (!allows_server(server) || !deny_tools.empty()) {
    return false;
  }
  return tools.empty() || std::any_of(tools.begin(), tools.end(), [&](const std::string& g) {
           return g == "*" || (g.size() == prefix.size() + 1 && g.back() == '*' &&
                               std::string_view(g).substr(0, prefix.size()) == prefix);
         });
}

bool Principal::allows_every_tool(std::string_view server,
                                  std::string_view prefix) const noexcept {
  return std::any_of(grants.begin(), grants.end(),
                     [&](const Grant& g) { return g.allows_every_tool(server, prefix); });
}

}  // namespace mcpgw::access
