#pragma once
// JSON-RPC 2.0 messages as Boost.JSON objects: parse once, classify, edit in place, serialize.
#include <boost/json.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::jsonrpc {

namespace json = boost::json;

enum class Kind {
  request,       ///< method + id
  notification,  ///< method, no id
  response,      ///< id + exactly one of result / error
  invalid,       ///< anything else
};

/// Parses `text` as one JSON value. `max_depth` bounds nesting (hostile input). Numbers are
/// exact: what a double cannot hold is kept as text (exact_json.hpp).
boost::system::result<json::value> parse(std::string_view text, std::size_t max_depth = 64);

/// Classifies a decoded message. For `invalid`, `why` says what is wrong.
Kind classify(const json::object& msg, std::string_view* why = nullptr);
Kind classify(const json::value& msg, std::string_view* why = nullptr);

/// True for a valid request id: a string or an integer (never null, never fractional).
bool valid_id(const json::value& id) noexcept;

/// A stable map key for an id: `s:<string>` or `i:<integer>`.
std::string id_key(const json::value& id);

/// The method of a request or notification ("" when absent).
std::string_view method(const json::object& msg) noexcept;

json::object make_request(json::value id, std::string_view method, json::object params);
json::object make_notification(std::string_view method, json::object params);
json::object make_result(json::value id, json::value result);
json::object make_error(json::value id, int code, std::string_view message,
                        json::value data = nullptr);

/// Compact serialization (no newlines: safe as one stdio line or one SSE data line). Numbers
/// that parse() kept as text are written as they came (exact_json.hpp).
std::string serialize(const json::value& v);
std::string serialize(const json::object& v);
std::string serialize(const json::array& v);

/// The integer "id" of the top-level object in `text`, found by scanning, not parsing: for
/// telling which request a reply that is not valid JSON (or too deep) was meant to answer.
std::optional<std::int64_t> scan_id(std::string_view text) noexcept;

/// Reads `params._meta.progressToken` if present.
const json::value* progress_token(const json::object& msg) noexcept;

}  // namespace mcpgw::jsonrpc
