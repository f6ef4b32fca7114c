#pragma once
// Sealed tokens: state the gateway hands a client and takes back (MRTR's requestState),
// encrypted and authenticated with AES-256-GCM, so the client can neither read nor alter it.
// `purpose` is bound in as associated data: a token sealed for one use does not open for
// another.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw {

class Sealer {
 public:
  static constexpr std::size_t kKeySize = 32;
  using Key = std::array<unsigned char, kKeySize>;

  explicit Sealer(const Key& key) : key_(key) {}
  /// A sealer with a fresh random key (valid for this process only).
  static Sealer random();

  /// base64url(nonce ‖ ciphertext ‖ tag).
  std::string seal(std::string_view plaintext, std::string_view purpose) const;
  /// The plaintext; nullopt when the token is malformed, altered, or sealed with another key
  /// or for another purpose.
  std::optional<std::string> open(std::string_view token, std::string_view purpose) const;

 private:
  Key key_;
};

}  // namespace mcpgw
