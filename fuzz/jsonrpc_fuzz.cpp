// The JSON-RPC codec: any bytes parse or fail cleanly; what parses is written as JSON that
// Boost.JSON's own strict parser accepts (no Infinity, no NaN, no broken marks), and
// parse → serialize is a fixed point after one round (the round-trip property).
#include "jsonrpc/message.hpp"

#include <boost/json/parse.hpp>

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto v = mcpgw::jsonrpc::parse(text, 64);
  if (!v) {
    return 0;
  }
  std::string_view why;
  (void)mcpgw::jsonrpc::classify(*v, &why);
  if (v->is_object()) {
    (void)mcpgw::jsonrpc::scan_id(text);
    (void)mcpgw::jsonrpc::progress_token(v->get_object());
  }
  const std::string once = mcpgw::jsonrpc::serialize(*v);
  boost::system::error_code ec;
  boost::json::parse(once, ec);  // must be standard JSON
  if (ec) {
    std::abort();
  }
  auto again = mcpgw::jsonrpc::parse(once, 64);
  if (!again || mcpgw::jsonrpc::serialize(*again) != once) {
    std::abort();
  }
  return 0;
}
