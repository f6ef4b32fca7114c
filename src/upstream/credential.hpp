#pragma once
// What a remote backend sends as Authorization for the one caller it serves, when that is not
// a static header: a token got (and renewed) for the caller, asynchronously.
#include "common/event.hpp"

#include <optional>
#include <string>

namespace mcpgw::upstream {

class Credential {
 public:
  virtual ~Credential() = default;
  /// "Bearer …", from a cache while it is fresh. `renew`: the server refused the last one
  /// (HTTP 401), so a new one is got. nullopt with `error` (for the caller to read: never a
  /// token) when none can be had.
  virtual asio::awaitable<std::optional<std::string>> authorization(bool renew,
                                                                   std::string& error) = 0;
  /// How the caller appears upstream, for logs and audit rows ("token exchange at …").
  virtual std::string describe() const = 0;
  /// Where the caller connects their account, when the last authorization() failed for want
  /// of it (empty otherwise): a link to open in a browser.
  virtual std::string consent_url() const { return {}; }
};

}  // namespace mcpgw::upstream
