// The config parser: any JSON document is either a config or a list of errors with paths.
#include "config/config.hpp"

#include <boost/json/parse.hpp>

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  const auto doc = boost::json::parse(
      std::string_view(reinterpret_cast<const char*>(data), size), ec, {}, opts);
  if (ec) {
    return 0;
  }
  mcpgw::config::Diagnostics diag;
  const mcpgw::config::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SET") {
      return std::string("value");
    }
    return std::nullopt;
  };
  (void)mcpgw::config::parse(doc, "/nonexistent", diag, env);
  return 0;
}
