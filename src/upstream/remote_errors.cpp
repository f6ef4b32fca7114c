// What a remote server's error responses become: a description with the status and the start
// of the body, a failed call, or (from a server of 2026-07-28) the server's own JSON-RPC error.
#include "upstream/remote_backend.hpp"

#include "common/error.hpp"
#include "common/text.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {
constexpr std::size_t kErrorBodyBytes = 512;
}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kErrorBodyBytes)) {
    out.push_back(c == '\n' || c == '\r' ? ' ' : (static_cast<unsigned char>(c) < 0x20 ? '?' : c));
  }
  return std::string(trim(out));
}
asio::awaitable<std::string> RemoteBackend::describe_status(HttpResponse& resp,
                                                            std::string_view what) {
  std::string body;
  boost::system::error_code ec;
  co_await resp.read_all(body, 64 * 1024, Clock::now() + std::chrono::seconds(2), ec);
  const unsigned status = resp.status();
  std::string text = printable(body);
  co_return fmt::format("{} answered HTTP {} {}{}{}", what, status,
                        http::obsolete_reason(static_cast<http::status>(status)),
                        text.empty() ? "" : ": ", text);
}

asio::awaitable<void> RemoteBackend::refused(HttpResponse& resp, const json::object& message,
                                              std::int64_t wire_id, bool degrade) {
  auto why = co_await describe_status(resp, "the server");
  if (wire_id != 0) {
    fail_call(wire_id, make_error_code(Errc::upstream_protocol),
              fmt::format("server '{}': {}", server_.name, why));
  } else {
    spdlog::warn("[{}] {} not accepted: {}", server_.name, jsonrpc::method(message), why);
  }
  if (degrade) {
    set_degraded(std::move(why));
  }
}

asio::awaitable<void> StreamableHttpBackend::error_body(HttpResponse& resp, std::int64_t wire_id,
                                                       bool is_init,
                                                       Clock::time_point deadline) {
  std::string body;
  boost::system::error_code ec;
  co_await resp.read_all(body, 64 * 1024, deadline, ec);
  boost::system::error_code pec;
  json::value v = json::parse(body, pec);
  const json::object* o = !pec && v.is_object() ? &v.get_object() : nullptr;
  const json::value* e = o ? o->if_contains("error") : nullptr;
  const json::value* id = o ? o->if_contains("id") : nullptr;
  const bool mine = id != nullptr && id->is_int64() && id->get_int64() == wire_id;
  if (e != nullptr && e->is_object() && mine &&
      (is_init ? mcp::refuses_for_modern(e->get_object()) : modern_)) {
    // The server's own answer (initialize refused for 2026-07-28 alone: the handshake asks
    // server/discover next).
    deliver(std::move(v));
    co_return;
  }
  const unsigned status = resp.status();
  const std::string text = printable(body);
  fail_call(wire_id, make_error_code(Errc::upstream_protocol),
            fmt::format("server '{}': the server answered HTTP {} {}{}{}", server_.name, status,
                        http::obsolete_reason(static_cast<http::status>(status)),
                        text.empty() ? "" : ": ", text));
}

}  // namespace mcpgw::upstream
