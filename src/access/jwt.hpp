#pragma once
// The gateway as an OAuth 2.1 resource server: verifies JWT access tokens (RS256/384/512,
// PS256/384/512, ES256/384) against the keys of a JWKS, checks issuer, audience, expiry and
// not-before, and turns the token's scopes (or another claim) into a principal's grants.
//
// Verified tokens are cached until they expire or the keys change, so a client that sends the
// same token on every request pays for one signature check.
#include "access/principal.hpp"
#include "common/base64.hpp"
#include "config/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mcpgw::access {

/// Three dot-separated base64url parts, the first a JSON object: worth trying as a JWT.
bool looks_like_jwt(std::string_view token) noexcept;

enum class JwtStatus {
  ok,           ///< principal set
  invalid,      ///< 401 invalid_token (reason says why)
  forbidden,    ///< 403 insufficient_scope: valid, but grants nothing here
  unknown_kid,  ///< signed by a key the JWKS does not have (yet): worth a refresh
  no_keys,      ///< no signing keys are loaded (the JWKS could not be read)
};

struct JwtResult {
  JwtStatus status = JwtStatus::invalid;
  PrincipalPtr principal;
  std::string reason;   ///< for the client; never contains the token
  std::string subject;  ///< "jwt:" + subject, once the signature checked out
};

class JwtVerifier {
 public:
  explicit JwtVerifier(config::JwtConfig cfg);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  const config::JwtConfig& config() const noexcept { return cfg_; }

  /// Replaces the signing keys with those of a JWKS document. Keys it cannot use (unknown kty,
  /// RSA under 2048 bits, a point off its curve, `use` other than "sig") are skipped and named
  /// in `skipped`. False with `error` (old keys kept) when the document is not a JWKS or has no
  /// usable key.
  bool set_jwks(std::string_view text, std::string& error, std::string* skipped = nullptr);
  /// For a JWKS file: reloads it when its size or time changed (looked at once a second).
  /// Returns false with `error` when a changed file cannot be used.
  bool poll_file(std::string& error);
  /// Why there are no keys, for the 401 when none are loaded (e.g. "JWKS fetch failed: …").
  void set_keys_error(std::string why) { keys_error_ = std::move(why); }

  std::size_t key_count() const noexcept { return keys_.size(); }
  /// Bumped on every successful set_jwks.
  std::uint64_t generation() const noexcept { return generation_; }

  /// Verifies `token` at unix time `now`.
  JwtResult verify(std::string_view token, std::int64_t now);

 private:
  struct Key;
  JwtResult check(std::string_view token, std::int64_t now, std::int64_t& exp);

  config::JwtConfig cfg_;
  std::vector<std::unique_ptr<Key>> keys_;
  std::uint64_t generation_ = 0;
  std::string keys_error_ = "no signing keys loaded";

  // The JWKS file's last seen identity.
  std::int64_t file_mtime_ns_ = -1;
  std::int64_t file_size_ = -1;
  std::chrono::steady_clock::time_point file_checked_{};

  struct Cached {
    PrincipalPtr principal;
    std::int64_t exp = 0;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  /// Verified tokens, cleared on key change. Looked up without copying the token.
  std::unordered_map<std::string, Cached, Hash, std::equal_to<>> cache_;
};

}  // namespace mcpgw::access
