#pragma once
#include <string>

namespace mcpgw {

/// `bytes` cryptographically random bytes as lowercase hex (session ids, fence ids).
std::string random_hex(std::size_t bytes);

}  // namespace mcpgw
