#pragma once
// The 2026-07-28 revision's per-request envelope: the `_meta` keys every request carries, the
// HTTP headers that mirror the body, and what every result of that revision must hold.
#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw::mcp {

namespace json = boost::json;

namespace meta {
inline constexpr std::string_view kProtocolVersion = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kClientCapabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kClientInfo = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view kLogLevel = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view kServerInfo = "io.modelcontextprotocol/serverInfo";
inline constexpr std::string_view kSubscriptionId = "io.modelcontextprotocol/subscriptionId";
}  // namespace meta

/// `params._meta` of a message, made (with `params`) when absent or not an object.
json::object& meta_of(json::object& msg);

/// `params._meta` of a message, or null.
const json::object* request_meta(const json::object& msg) noexcept;

/// The revision a request names in `_meta` (empty when it names none: not a modern request).
std::string_view meta_version(const json::object& msg) noexcept;

/// A mirrored header's value as sent: plain, or `=?base64?…?=` (decoded). Nullopt when the
/// sentinel's Base64 is not valid.
std::optional<std::string> decode_header_value(std::string_view value);

/// Checks a tools/call's Mcp-Param-* headers (`headers`: the name after the prefix, lowercase,
/// and the value) against its `arguments`, by the tool's `x-mcp-header` parameters (`tool`: the
/// tool as its server lists it). Empty when they agree; else what disagrees.
std::string check_param_headers(const json::object& tool, const json::object& call_params,
                                const std::vector<std::pair<std::string, std::string>>& headers);

/// What the mirrored headers say. Absent headers are empty.
struct MirroredHeaders {
  std::string_view version;  ///< MCP-Protocol-Version
  std::string_view method;   ///< Mcp-Method
  std::string_view name;     ///< Mcp-Name
};

/// Empty when the headers agree with the body; else why not, for the -32020 error. Requests
/// need MCP-Protocol-Version (equal to `_meta`'s) and Mcp-Method; tools/call and prompts/get
/// need Mcp-Name = params.name, resources/read Mcp-Name = params.uri.
std::string check_mirrored(const json::object& msg, const MirroredHeaders& h);

/// The params of a modern request lack a key the envelope requires (empty if complete).
std::string_view missing_meta(const json::object& msg) noexcept;

/// Takes the envelope out of a request before it goes to a server of an older revision (which
/// would not know it); what the request itself carries in `_meta` (progressToken, trace
/// context) stays. Returns the client's info, capabilities and log level.
struct Envelope {
  json::object client_info;
  json::object client_capabilities;
  std::string log_level;  ///< the log messages this request wants (empty: none)
};
Envelope take_envelope(json::object& msg);

// Toward a server that speaks only this revision.

/// Puts the envelope in a request's `_meta`: the revision, the gateway's client info and
/// capabilities.
void put_envelope(json::object& msg, const json::object& client_info,
                  const json::object& capabilities);

/// The mirrored headers a request to a server of this revision needs: Mcp-Method, and
/// Mcp-Name for tools/call, prompts/get and resources/read (Base64 sentinel when the value is
/// not plain printable ASCII). Pairs of name and value.
std::vector<std::pair<std::string, std::string>> mirrored_headers(const json::object& msg);

/// A value as a header carries it: as it is when plain printable ASCII, else in the Base64
/// sentinel (=?base64?…?=).
std::string header_value(std::string_view text);

/// Whether a tool of `tools` (a tools/list's) has an `x-mcp-header` parameter.
bool has_header_params(const json::array& tools);

/// The Mcp-Param-* headers of a tools/call to `tool` (as its server lists it): one for each
/// `x-mcp-header` parameter its arguments give. Pairs of name and value.
std::vector<std::pair<std::string, std::string>> param_headers(const json::object& tool,
                                                               const json::object& call_params);

/// Whether an initialize was refused because the server speaks only this revision
/// (-32022 with data.supported naming it).
bool refuses_for_modern(const json::object& error) noexcept;

/// Whether a reply is an `input_required` result.
bool is_input_required(const json::object& reply) noexcept;

/// Takes out of a reply from a server of this revision what belongs to that server's own
/// revision and identity: `resultType`, `ttlMs`, `cacheScope`, `_meta`'s serverInfo.
void strip_result(json::object& reply);

/// Makes a reply one of the modern revision: `resultType` on every result; `ttlMs` and
/// `cacheScope` on the lists and resources/read (private: what the gateway lists depends on
/// who asks; ttl 0: the lists change when a server says so, and nothing tells this client).
void stamp_result(json::object& reply, std::string_view method);

/// The HTTP status of a plain JSON reply of this revision: 400 for the errors that say the
/// request itself was wrong for it (-32020, -32021, -32022), else 200.
int http_status_of(const json::object& reply) noexcept;

}  // namespace mcpgw::mcp
