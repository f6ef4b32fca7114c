#include "upstream/consent_link.hpp"

#include "common/clock.hpp"
#include "upstream/oauth_http.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace mcpgw::upstream {

namespace {

namespace json = boost::json;

constexpr std::string_view kPurpose = "mcpgw oauth ticket";

}  // namespace

std::string consent_link(const std::string& public_url, const Sealer& sealer,
                         const std::string& principal, const std::string& server) {
  json::object o;
  o["p"] = principal;
  o["s"] = server;
  o["e"] = unix_s() + std::chrono::seconds(kConsentLinkLife).count();
  return fmt::format("{}/oauth/start?server={}&ticket={}", public_url, form_encode(server),
                     sealer.seal(json::serialize(o), kPurpose));
}

std::optional<std::string> open_consent_ticket(const Sealer& sealer, std::string_view ticket,
                                               std::string_view server) {
  auto plain = sealer.open(ticket, kPurpose);
  boost::system::error_code ec;
  const json::value v = plain ? json::parse(*plain, ec) : json::value();
  if (!plain || ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.get_object();
  const auto principal = string_of(o, "p");
  // A missing expiry reads as 0: long past.
  if (string_of(o, "s") != server || unix_s() > int_of(o, "e") || principal.empty()) {
    return std::nullopt;
  }
  return std::string(principal);
}

}  // namespace mcpgw::upstream
