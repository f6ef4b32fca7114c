#pragma once
// A config file's text as JSON: comments and trailing commas allowed, errors with their line
// and column, and a key given twice in one object refused (the parser would keep the last
// one, so a second server of the same name would silently replace the first).
#include "config/config.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::config {

/// "line L, column C" of byte `offset` in `text` (both from 1; a column counts bytes).
std::string line_and_column(std::string_view text, std::size_t offset);

/// The document, or nullopt with one error in `diag` under `file`: "not valid JSON at line 3,
/// column 7: …" or "mcpServers.fs: given twice (line 9, column 5)".
std::optional<boost::json::value> parse_json_text(std::string_view text, const std::string& file,
                                                  Diagnostics& diag);

/// `v` as JSON text for a person to read and edit: two spaces of indent, one member per line,
/// short lists of plain values on one line.
std::string pretty_json(const boost::json::value& v);

}  // namespace mcpgw::config
