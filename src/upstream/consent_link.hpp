#pragma once
// Consent links: where a user acts in a browser for a server that needs something only they
// can give (their account connected, a value for their vault). A browser has no API key: the
// link's ticket, sealed with the vault key, says which user and server it is for, and until
// when (15 minutes).
#include "common/sealer.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::upstream {

inline constexpr auto kConsentLinkLife = std::chrono::minutes(15);

/// PUBLIC_URL/oauth/start?server=SERVER&ticket=… for `principal`.
std::string consent_link(const std::string& public_url, const Sealer& sealer,
                         const std::string& principal, const std::string& server);
/// The user a link's ticket was made for; nullopt when it was altered, sealed with other keys,
/// is too old, or is for another server.
std::optional<std::string> open_consent_ticket(const Sealer& sealer, std::string_view ticket,
                                               std::string_view server);

}  // namespace mcpgw::upstream
