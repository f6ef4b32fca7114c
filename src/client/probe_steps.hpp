#pragma once
// What the probe's steps share: the findings being written, the HTTP client, and the two
// transports seen as one "send a JSON-RPC message, get its response" channel. Internal to the
// client module.
#include "client/probe_http.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <string>
#include <string_view>

namespace mcpgw::client::probe_detail {

/// The revisions the probe asks for.
inline constexpr std::string_view kModernVersion = "2026-07-28";
inline constexpr std::string_view kStreamableVersion = "2025-11-25";
inline constexpr std::string_view kLegacyVersion = "2024-11-05";

struct Context {
  Context(asio::any_io_executor ex, const ProbeOptions& o) : opts(o), http(std::move(ex), o) {}

  const ProbeOptions& opts;
  Http http;
  Findings found;
  /// A request was refused for want of credentials: the rest would be refused too.
  bool blocked = false;

  void add(std::string id, std::string what, Mark mark, std::string detail,
           const upstream::Url& url);
  /// Keeps the first 401/403 (its challenge and its words) for the auth step.
  void note_refusal(const Reply& r);
  /// A failed reply, in words.
  std::string why(const Reply& r) const { return failure_text(r, http.step()); }
};

/// One transport's way of carrying JSON-RPC: Streamable HTTP (a POST and its reply) or legacy
/// SSE (a POST, the reply on the open stream).
class Channel {
 public:
  virtual ~Channel() = default;
  /// Sends a request; the Reply's `message` is its response when one came.
  virtual asio::awaitable<Reply> call(const json::object& request) = 0;
  /// Sends a notification.
  virtual asio::awaitable<Reply> notify(const json::object& notification) = 0;
};

/// What an initialize result said.
struct Handshake {
  std::string version;       ///< the negotiated protocolVersion
  std::string server;        ///< "name version"
  std::string capabilities;  ///< "tools, resources (subscribe), prompts"
};

/// Who is asking: {"name": "mcpgw-probe", "version": …}.
json::object client_info();
/// An initialize request for `version`.
json::object initialize_request(std::int64_t id, std::string_view version);
/// Reads an initialize response; false with `why` when it is not a usable result.
bool read_handshake(const json::object& response, Handshake& out, std::string& why);
/// Keeps the server's identity in the findings (from the first transport that works).
void keep_handshake(Context& ctx, const Handshake& h, std::string_view transport,
                    const upstream::Url& url);
/// Pages through tools/list on `ch` (bounded), adds the `prefix`.tools row and keeps the tools
/// when none were kept yet.
asio::awaitable<void> list_tools(Context& ctx, Channel& ch, std::string_view prefix,
                                 std::string_view label, const upstream::Url& url);

/// Connects with a server/discover request: the "reach" and "discover" rows. False when the
/// server cannot be reached at all.
/// A tool of a tools/list result as the report shows it: its name and its description's first
/// line.
ToolSummary tool_summary(const json::object& tool);

asio::awaitable<bool> reach_and_discover(Context& ctx, const upstream::Url& url);
/// After a discover that offers 2026-07-28: tools/list as that revision's clients send it (no
/// session), and whether its result is one they accept.
asio::awaitable<void> try_stateless_list(Context& ctx, const upstream::Url& url);
/// Streamable HTTP at `url`: initialize, initialized, tools/list and the checks that explain
/// client failures; ends the session. True when it works.
asio::awaitable<bool> try_streamable(Context& ctx, const upstream::Url& url);
/// Legacy HTTP+SSE at `url`: the GET stream's endpoint event, initialize, tools/list. True
/// when it works.
asio::awaitable<bool> try_legacy(Context& ctx, const upstream::Url& url);
/// After a 401/403: what the challenge and the OAuth metadata say; the "auth" row.
asio::awaitable<void> explain_auth(Context& ctx);

}  // namespace mcpgw::client::probe_detail
