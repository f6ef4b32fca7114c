#include "upstream/consent_link.hpp"

#include "common/clock.hpp"
#include "upstream/oauth_http.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace mcpgw::upstream {

namespace {

namespace json = boost::json;

constexpr std::string_view kPurpose = "mcpgw oauth ticket";

std::int64_t unix_now() { return unix_ms() / 1000; }

}  // namespace

std::string consent_link(const std::string& public_url, const Sealer& sealer,
                         const std::string& principal, const std::string& server) {
  json::object o;
  o["p"] = principal;
  o["s"] = server;
  o["e"] = unix_now() + std::chrono::seconds(kConsentLinkLife).count();
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
  const auto* e = o.if_contains("e");
  const auto principal = string_of(o, "p");
  if (string_of(o, "s") != server || e == nullptr || !e->is_int64() ||
      unix_now() > e->get_int64() || principal.empty()) {
    return std::nullopt;
  }
  return std::string(principal);
}

}  // namespace mcpgw::upstream
