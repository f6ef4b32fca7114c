#pragma once
// What the gateway's OAuth client and token exchange share: one-off HTTP requests to any URL
// (metadata, registration and token endpoints), form bodies, and reading token answers.
#include "upstream/http_client.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace mcpgw::upstream {

/// An answer read whole: the status and body, or `error` (for people) when none came.
struct Fetched {
  unsigned status = 0;
  std::string body;
  std::string www_authenticate;  ///< the header, when the answer carries one
  std::string error;
};

/// Settings for one request to an OAuth endpoint.
struct FetchOptions {
  TlsSettings tls;
  std::chrono::milliseconds connect_timeout{10'000};
  Clock::time_point deadline{};
  std::size_t max_body = 64 * 1024;
};

/// `method` `url` with `body` of `content_type` (none when empty) and `authorization` (none
/// when empty); the answer read to its end.
asio::awaitable<Fetched> fetch(asio::any_io_executor ex, const std::string& url,
                               http::verb method, std::string body,
                               std::string_view content_type, std::string_view authorization,
                               const FetchOptions& opts);

/// Percent-encodes `s` for a form body or a query (only unreserved characters stay).
std::string form_encode(std::string_view s);
/// Appends `name=value` to a form body or query (nothing when `value` is empty).
void add_form_field(std::string& body, std::string_view name, std::string_view value);
/// "Basic base64(id:secret)" with both form-encoded (RFC 6749 §2.3.1).
std::string basic_authorization(std::string_view client_id, std::string_view client_secret);

/// The string member `key` of `o`, or empty.
std::string_view string_of(const boost::json::object& o, std::string_view key);
/// The integer member `key` of `o`; 0 when missing or not an integer.
std::int64_t int_of(const boost::json::object& o, std::string_view key);
/// A token answer's `expires_in` (a number or a numeric string); `fallback` when missing.
std::chrono::seconds expires_in(const boost::json::object& o, std::chrono::seconds fallback);
/// An error answer of an OAuth endpoint, for people: "invalid_grant: revoked", or the status.
std::string oauth_error(const Fetched& answer);

}  // namespace mcpgw::upstream
