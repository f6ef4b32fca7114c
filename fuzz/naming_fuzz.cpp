// The naming scheme: for any server name the config accepts and any tool name or URI, what is
// exposed resolves back to exactly that server and name.
#include "mcp/naming.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::size_t cut = 1 + data[0] % (size - 1);
  const std::string_view server(reinterpret_cast<const char*>(data) + 1, cut - 1);
  const std::string_view name(reinterpret_cast<const char*>(data) + cut, size - cut);
  mcpgw::mcp::Naming naming("__", 64);
  (void)naming.resolve(name);
  (void)mcpgw::mcp::Naming::resolve_uri(name);
  if (server.empty() || !mcpgw::mcp::Naming::check_server_name(server, "__").empty()) {
    return 0;
  }
  const std::string exposed = naming.expose(server, name);
  if (exposed.size() > 64) {
    std::abort();  // a long name must be shortened to the limit
  }
  const auto back = naming.resolve(exposed);
  if (!back || back->server != server || back->name != name) {
    std::abort();
  }
  const auto uri = mcpgw::mcp::Naming::resolve_uri(mcpgw::mcp::Naming::expose_uri(server, name));
  if (!uri || uri->server != server || uri->name != name) {
    std::abort();
  }
  return 0;
}
