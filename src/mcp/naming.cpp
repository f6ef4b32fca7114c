#include "mcp/naming.hpp"

#include <fmt/format.h>

namespace mcpgw::mcp {

std::uint64_t fnv1a64(std::string_view data) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Naming::Naming(std::string separator, std::size_t max_length)
    : separator_(std::move(separator)), max_length_(max_length) {}

std::string Naming::expose(std::string_view server, std::string_view name, bool* shortened) {
  std::string full;
  full.reserve(server.size() + separator_.size() + name.size());
  full.append(server).append(separator_).append(name);
  if (shortened != nullptr) {
    *shortened = false;
  }
  if (full.size() <= max_length_) {
    return full;
  }
  // Keep as much of the readable name as fits, then `_` and 8 hex digits of the full name's
  // hash: deterministic, so the exposed name is the same in every session and every run.
  const std::uint32_t hash = static_cast<std::uint32_t>(fnv1a64(full));
  const std::size_t keep = max_length_ > 9 ? max_length_ - 9 : 0;
  std::string out = full.substr(0, keep);
  out += fmt::format("_{:08x}", hash);
  shortened_.insert_or_assign(out, Target{std::string(server), std::string(name)});
  if (shortened != nullptr) {
    *shortened = true;
  }
  return out;
}

std::optional<Target> Naming::resolve(std::string_view exposed) const {
  if (auto it = shortened_.find(exposed); it != shortened_.end()) {
    return it->second;
  }
  // Server names never contain the separator (check_server_name), so the first occurrence
  // is the boundary.
  const auto pos = exposed.find(separator_);
  if (pos == std::string_view::npos || pos == 0) {
    return std::nullopt;
  }
  return Target{std::string(exposed.substr(0, pos)),
                std::string(exposed.substr(pos + separator_.size()))};
}

std::string Naming::check_server_name(std::string_view server, std::string_view separator) {
  if (server.empty()) {
    return "a server name must not be empty";
  }
  for (char c : server) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) {
      return fmt::format("server name \"{}\" may only contain letters, digits, '_', '-' and '.'",
                         server);
    }
  }
  // The first separator in `{server}{sep}` must be the one we add, or names cannot be split.
  std::string joined(server);
  joined.append(separator);
  if (!separator.empty() && joined.find(separator) != server.size()) {
    const bool contains = server.find(separator) != std::string_view::npos;
    return fmt::format("server name \"{}\" must not {} the separator \"{}\": a tool named "
                       "\"{}{}TOOL\" could not be split back into server and tool (rename the "
                       "server, or choose another gateway.separator)",
                       server, contains ? "contain" : "end in part of", separator, server,
                       separator);
  }
  return {};
}

std::string Naming::expose_uri(std::string_view server, std::string_view uri) {
  std::string out;
  out.reserve(kUriScheme.size() + server.size() + 1 + uri.size());
  out.append(kUriScheme).append(server).append("/").append(uri);
  return out;
}

std::optional<Target> Naming::resolve_uri(std::string_view exposed) {
  if (exposed.substr(0, kUriScheme.size()) != kUriScheme) {
    return std::nullopt;
  }
  exposed.remove_prefix(kUriScheme.size());
  const auto slash = exposed.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    return std::nullopt;
  }
  return Target{std::string(exposed.substr(0, slash)), std::string(exposed.substr(slash + 1))};
}

}  // namespace mcpgw::mcp
