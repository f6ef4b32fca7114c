#pragma once
// Sealed tokens: state the gateway hands a client and takes back (MRTR's requestState, a
// cluster's session ids), encrypted and authenticated with AES-256-GCM, so the client can
// neither read nor alter it. `purpose` is bound in as associated data: a token sealed for one
// use does not open for another.
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw {

class Sealer {
 public:
  static constexpr std::size_t kKeySize = 32;
  using Key = std::array<unsigned char, kKeySize>;

  explicit Sealer(const Key& key) : keys_{key} {}
  /// A key ring: the first key seals, every key opens (so keys can be rotated: add the new
  /// one second, then move it first, then drop the old one). Not empty.
  explicit Sealer(std::vector<Key> keys);
  /// A sealer with a fresh random key (valid for this process only).
  static Sealer random();
  /// The keys of a key file: one per line, 64 hex digits or the base64 of 32 bytes; blank
  /// lines and lines starting with '#' are skipped. nullopt (with `error`) when the file
  /// cannot be read, a line is not a key, or there is none.
  static std::optional<std::vector<Key>> read_keys(const std::string& path, std::string& error);
  /// The keys in `text`, as in a key file; `source` names it in errors.
  static std::optional<std::vector<Key>> parse_keys(std::string_view text,
                                                    std::string_view source, std::string& error);

  /// base64url(nonce ‖ ciphertext ‖ tag).
  std::string seal(std::string_view plaintext, std::string_view purpose) const;
  /// The plaintext; nullopt when the token is malformed, altered, or sealed with another key
  /// or for another purpose.
  std::optional<std::string> open(std::string_view token, std::string_view purpose) const;

 private:
  std::optional<std::string> open_with(const Key& key, std::string_view raw,
                                       std::string_view purpose) const;

  std::vector<Key> keys_;
};

}  // namespace mcpgw
