#pragma once
// What the HTTP front door's files share: Beast's request and response types, the MCP header
// names, and small header helpers.
#include "relay/session.hpp"
#include "common/text.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <string>
#include <string_view>

namespace mcpgw::downstream {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using relay::EventStream;
using relay::SessionPtr;

inline constexpr std::string_view kSessionHeader = "Mcp-Session-Id";
inline constexpr std::string_view kVersionHeader = "MCP-Protocol-Version";
inline constexpr std::string_view kAllowStreamable = "GET, POST, DELETE, OPTIONS";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// Case-insensitive ASCII search; `needle` must be lowercase. Runs on every request's headers.
inline bool contains_ci(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) {
    return true;
  }
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (ascii_lower(haystack[i]) != needle[0]) {
      continue;
    }
    std::size_t j = 1;
    while (j < needle.size() && ascii_lower(haystack[i + j]) == needle[j]) {
      ++j;
    }
    if (j == needle.size()) {
      return true;
    }
  }
  return false;
}

/// What the client's Accept header allows. No Accept header accepts everything.
struct Accepts {
  bool json = true;
  bool sse = true;
};

inline Accepts parse_accept(std::string_view accept) {
  if (accept.empty() || contains_ci(accept, "*/*")) {
    return {};
  }
  Accepts a;
  a.json = contains_ci(accept, "application/json") || contains_ci(accept, "application/*");
  a.sse = contains_ci(accept, "text/event-stream") || contains_ci(accept, "text/*");
  return a;
}

inline std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

/// SSE framing: one event per message, `data` is single-line JSON.
inline void append_event(std::string& out, std::string_view id, std::string_view data) {
  if (!id.empty()) {
    out.append("id: ").append(id).append("\n");
  }
  out.append("event: message\ndata: ").append(data).append("\n\n");
}

}  // namespace mcpgw::downstream
