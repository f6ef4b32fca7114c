#include "common/random.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace mcpgw {

std::string random_hex(std::size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // The OS entropy source failing is not something the gateway can serve around.
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : raw) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

}  // namespace mcpgw
