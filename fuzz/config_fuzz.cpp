// The config reader: any text is either a JSON document (then a config or a list of errors
// with paths) or exactly one error saying where the text is wrong or which key it repeats.
#include "config/config.hpp"
#include "config/json_text.hpp"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mcpgw::config::Diagnostics text_diag;
  const auto doc = mcpgw::config::parse_json_text(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json", text_diag);
  if (!doc) {
    if (text_diag.errors.size() != 1) {
      __builtin_trap();  // a refused text gets exactly one error
    }
    return 0;
  }
  mcpgw::config::Diagnostics diag;
  const mcpgw::config::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SET") {
      return std::string("value");
    }
    return std::nullopt;
  };
  (void)mcpgw::config::parse(*doc, "/nonexistent", diag, env);
  return 0;
}
