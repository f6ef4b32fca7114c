#pragma once
// What `mcpgw probe` prints: the table of checks, the tools, the verdict and the configs that
// work, for people; or all of it as one JSON object, for scripts.
#include "client/probe.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace mcpgw::client {

struct ReportOptions {
  std::string url;              ///< the URL probed (origin and target)
  std::string name;             ///< the server's name in the configs
  std::vector<Header> headers;  ///< the --header arguments, for the configs
  bool show_secrets = false;    ///< header values as given, not hidden
};

/// At most this many tools are listed in the text report (descriptions cut to 80 characters;
/// the JSON has them whole, up to 200).
inline constexpr std::size_t kToolsShown = 50;

std::string render_text(const Findings& f, const ReportOptions& o);
boost::json::object render_json(const Findings& f, const ReportOptions& o);

}  // namespace mcpgw::client
