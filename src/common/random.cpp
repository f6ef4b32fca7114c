#include "common/random.hpp"

#include "common/text.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace mcpgw {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // The OS entropy source failing is not something the gateway can serve around.
    throw std::runtime_error("RAND_bytes failed");
  }
  return to_hex(raw.data(), raw.size());
}

}  // namespace mcpgw
