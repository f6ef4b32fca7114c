#include "mcp/protocol.hpp"

#include <algorithm>

namespace mcpgw::mcp {

bool is_supported(std::string_view version) noexcept {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), version) !=
         kSupportedVersions.end();
}

std::string_view negotiate(std::string_view requested) noexcept {
  // Spec (lifecycle): answer the same version if supported, otherwise the latest we support.
  return is_supported(requested) ? requested : kLatestVersion;
}

namespace {
constexpr std::array<std::string_view, 8> kLevels = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};
}  // namespace

const char* capability_for(std::string_view m) noexcept {
  return m == method::kSamplingCreateMessage ? "sampling"
         : m == method::kElicitationCreate   ? "elicitation"
         : m == method::kRootsList           ? "roots"
                                             : nullptr;
}

std::string_view log_level_name(int rank) noexcept {
  return rank >= 0 && rank < static_cast<int>(kLevels.size()) ? kLevels[rank]
                                                              : std::string_view();
}

int log_level_rank(std::string_view level) noexcept {
  for (std::size_t i = 0; i < kLevels.size(); ++i) {
    if (kLevels[i] == level) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace mcpgw::mcp
