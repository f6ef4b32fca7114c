#pragma once
// MCP protocol vocabulary: revisions, version negotiation and method names.
#include <array>
#include <string_view>

namespace mcpgw::mcp {

/// Revisions the gateway speaks to clients, newest first.
inline constexpr std::array<std::string_view, 4> kSupportedVersions = {
    "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
inline constexpr std::string_view kLatestVersion = "2025-11-25";
/// What a Streamable HTTP request without MCP-Protocol-Version is taken to speak.
inline constexpr std::string_view kAssumedHeaderVersion = "2025-03-26";
/// The first revision whose SSE streams carry a priming event.
inline constexpr std::string_view kPrimingVersion = "2025-11-25";

/// The stateless revision: no initialize, no session; every request names its version in
/// `_meta` (mcp/modern.hpp).
inline constexpr std::string_view kModernVersion = "2026-07-28";
/// What server/discover offers: the stateless revision and, through initialize, the others.
inline constexpr std::array<std::string_view, 5> kDiscoverVersions = {
    "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

bool is_supported(std::string_view version) noexcept;
/// The version the gateway answers to a client asking for `requested`.
std::string_view negotiate(std::string_view requested) noexcept;
/// Revisions are dates, so string order is time order.
inline bool at_least(std::string_view version, std::string_view minimum) noexcept {
  return version >= minimum;
}

namespace method {
inline constexpr std::string_view kInitialize = "initialize";
inline constexpr std::string_view kPing = "ping";
inline constexpr std::string_view kToolsList = "tools/list";
inline constexpr std::string_view kToolsCall = "tools/call";
inline constexpr std::string_view kPromptsList = "prompts/list";
inline constexpr std::string_view kPromptsGet = "prompts/get";
inline constexpr std::string_view kResourcesList = "resources/list";
inline constexpr std::string_view kResourceTemplatesList = "resources/templates/list";
inline constexpr std::string_view kResourcesRead = "resources/read";
inline constexpr std::string_view kResourcesSubscribe = "resources/subscribe";
inline constexpr std::string_view kResourcesUnsubscribe = "resources/unsubscribe";
inline constexpr std::string_view kCompletionComplete = "completion/complete";
inline constexpr std::string_view kLoggingSetLevel = "logging/setLevel";
inline constexpr std::string_view kServerDiscover = "server/discover";
inline constexpr std::string_view kSubscriptionsListen = "subscriptions/listen";
inline constexpr std::string_view kSamplingCreateMessage = "sampling/createMessage";
inline constexpr std::string_view kElicitationCreate = "elicitation/create";
inline constexpr std::string_view kRootsList = "roots/list";

inline constexpr std::string_view kInitialized = "notifications/initialized";
inline constexpr std::string_view kCancelled = "notifications/cancelled";
inline constexpr std::string_view kProgress = "notifications/progress";
inline constexpr std::string_view kMessage = "notifications/message";
inline constexpr std::string_view kToolsListChanged = "notifications/tools/list_changed";
inline constexpr std::string_view kPromptsListChanged = "notifications/prompts/list_changed";
inline constexpr std::string_view kResourcesListChanged = "notifications/resources/list_changed";
inline constexpr std::string_view kResourcesUpdated = "notifications/resources/updated";
inline constexpr std::string_view kRootsListChanged = "notifications/roots/list_changed";
inline constexpr std::string_view kSubscriptionsAcknowledged =
    "notifications/subscriptions/acknowledged";
}  // namespace method

/// RFC 5424 severity of an MCP logging level (debug = 0 … emergency = 7), -1 if unknown.
int log_level_rank(std::string_view level) noexcept;
/// The client capability a server→client request needs ("sampling", "elicitation", "roots");
/// null for other methods.
const char* capability_for(std::string_view method) noexcept;

/// The level of a rank (empty when out of range).
std::string_view log_level_name(int rank) noexcept;

}  // namespace mcpgw::mcp
