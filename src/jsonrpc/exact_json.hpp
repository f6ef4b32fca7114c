#pragma once
// JSON that passes numbers through exactly. Boost.JSON 1.81 reads every non-integer into a
// double, not always correctly rounded, and a double cannot hold 1e400, -0 or
// 0.1000000000000000055511151231257827 at all; serialized again, such a number changes, or
// becomes "Infinity", which is not JSON. A gateway must hand on what it was given.
//
// parse_exact() keeps integers that fit 64 bits as integers and every other number as its text,
// inside a string marked with a prefix no JSON text can produce unescaped ("\0\1n:"). Incoming
// strings that start with "\0" are themselves marked ("\0\1s:"), so a client cannot forge a
// raw number. serialize_exact() writes marked numbers as their text and strips the string
// marks; text without marks (nearly every message) costs one scan. Whatever changed a marked
// number into something that is not a number (a redaction) is written as a string.
// The gateway reads no fractional number out of a message; code that needs one must parse the
// text of a value for which is_raw_number() holds.
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace mcpgw::jsonrpc {

/// Parses one JSON text with exact numbers. `max_depth` bounds nesting.
boost::system::result<boost::json::value> parse_exact(std::string_view text, std::size_t max_depth);

/// Serializes on one line, writing numbers kept as text as they came.
std::string serialize_exact(const boost::json::value& v);
std::string serialize_exact(const boost::json::object& o);
std::string serialize_exact(const boost::json::array& a);

/// Whether `v` is a number kept as text by parse_exact (it reads as a marked string).
bool is_raw_number(const boost::json::value& v) noexcept;

}  // namespace mcpgw::jsonrpc
