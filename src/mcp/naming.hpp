#pragma once
// How names from many servers share one namespace on the aggregate endpoint.
//
// Tools and prompts are exposed as `{server}{sep}{name}`; names longer than `max_length` are
// shortened deterministically (a prefix plus a hash of the full name), so the same server and
// tool give the same exposed name in every session and every run. Resource URIs are exposed as
// `mcpgw://{server}/{original-uri}` so that two servers' URIs never collide.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace mcpgw::mcp {

struct Target {
  std::string server;
  std::string name;  ///< tool/prompt name or resource URI as the server knows it
};

class Naming {
 public:
  explicit Naming(std::string separator = "__", std::size_t max_length = 64);

  const std::string& separator() const noexcept { return separator_; }

  /// Exposed name for `server`'s `name`. Records shortened names so resolve() finds them.
  /// Sets `*shortened` when the name had to be shortened.
  std::string expose(std::string_view server, std::string_view name, bool* shortened = nullptr);

  /// The server and original name behind an exposed name; nullopt if it has no server prefix.
  std::optional<Target> resolve(std::string_view exposed) const;

  /// Why `server` cannot be used as a server name with `separator`, or empty if it can.
  static std::string check_server_name(std::string_view server, std::string_view separator);

  static constexpr std::string_view kUriScheme = "mcpgw://";
  static std::string expose_uri(std::string_view server, std::string_view uri);
  static std::optional<Target> resolve_uri(std::string_view exposed);

 private:
  std::string separator_;
  std::size_t max_length_;
  /// Heterogeneous lookup: resolve() runs on every call and must not build a key string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view v) const noexcept {
      return std::hash<std::string_view>{}(v);
    }
  };
  std::unordered_map<std::string, Target, Hash, std::equal_to<>> shortened_;
};

/// 64-bit FNV-1a, used for deterministic name shortening.
std::uint64_t fnv1a64(std::string_view data) noexcept;

}  // namespace mcpgw::mcp
