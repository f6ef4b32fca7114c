#include "common/sealer.hpp"

#include "common/base64.hpp"
#include "common/text.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <memory>
#include <stdexcept>

namespace mcpgw {

namespace {

constexpr int kNonceSize = 12;
constexpr int kTagSize = 16;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

/// One line of a key file as a key: 64 hex digits, or base64 of 32 bytes.
std::optional<Sealer::Key> parse_key(std::string_view line) {
  auto bytes = line.size() == 2 * Sealer::kKeySize ? from_hex(line) : base64_decode(line);
  if (!bytes || bytes->size() != Sealer::kKeySize) {
    return std::nullopt;
  }
  Sealer::Key key;
  std::memcpy(key.data(), bytes->data(), key.size());
  return key;
}

}  // namespace

Sealer::Sealer(std::vector<Key> keys) : keys_(std::move(keys)) {
  if (keys_.empty()) {
    throw std::invalid_argument("a key ring needs a key");
  }
}

std::optional<std::vector<Sealer::Key>> Sealer::read_keys(const std::string& path,
                                                          std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_keys(text.str(), path, error);
}

std::optional<std::vector<Sealer::Key>> Sealer::parse_keys(std::string_view text,
                                                           std::string_view source,
                                                           std::string& error) {
  std::vector<Key> keys;
  int n = 0;
  while (!text.empty()) {
    ++n;
    const auto eol = text.find('\n');
    const std::string_view line = trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    auto key = parse_key(line);
    if (!key) {
      error = std::string(source) + ": line " + std::to_string(n) +
              " is not a key (64 hex digits, or 32 bytes in base64)";
      return std::nullopt;
    }
    keys.push_back(*key);
  }
  if (keys.empty()) {
    error = std::string(source) + " holds no key";
    return std::nullopt;
  }
  return keys;
}

Sealer Sealer::random() {
  Key key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    throw std::runtime_error("no random bytes for a sealing key");
  }
  return Sealer(key);
}

std::string Sealer::seal(std::string_view plaintext, std::string_view purpose) const {
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  auto* body = nonce + kNonceSize;
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (RAND_bytes(nonce, kNonceSize) != 1 || !ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, keys_.front().data(),
                         nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(purpose),
                        static_cast<int>(purpose.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), body, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), body + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          body + plaintext.size()) != 1) {
    throw std::runtime_error("sealing failed");
  }
  return base64url_encode(out);
}

std::optional<std::string> Sealer::open(std::string_view token, std::string_view purpose) const {
  auto raw = base64url_decode(token);
  if (!raw || raw->size() < static_cast<std::size_t>(kNonceSize + kTagSize)) {
    return std::nullopt;
  }
  for (const Key& key : keys_) {
    if (auto plain = open_with(key, *raw, purpose)) {
      return plain;
    }
  }
  return std::nullopt;
}

std::optional<std::string> Sealer::open_with(const Key& key, std::string_view raw,
                                             std::string_view purpose) const {
  const auto* nonce = bytes(raw);
  const std::size_t size = raw.size() - kNonceSize - kTagSize;
  std::string plain(size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plain.data());
  std::string tag(raw.substr(kNonceSize + size));
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(purpose),
                        static_cast<int>(purpose.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &len, nonce + kNonceSize, static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + len, &len) != 1) {
    return std::nullopt;
  }
  return plain;
}

}  // namespace mcpgw
