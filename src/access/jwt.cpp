#include "access/jwt.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace mcpgw::access {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxToken = 16 * 1024;
constexpr std::size_t kMaxCached = 4096;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

/// What an `alg` asks of a key and of the signature.
struct Alg {
  std::string_view name;
  std::string_view kty;     ///< "RSA" or "EC"
  std::string_view crv;     ///< for EC
  const char* digest;       ///< OpenSSL digest name
  bool pss = false;
  std::size_t ec_size = 0;  ///< bytes of r (and of s) for EC
};

constexpr std::array<Alg, 8> kAlgs{{
    {"RS256", "RSA", "", "SHA256"},
    {"RS384", "RSA", "", "SHA384"},
    {"RS512", "RSA", "", "SHA512"},
    {"PS256", "RSA", "", "SHA256", true},
    {"PS384", "RSA", "", "SHA384", true},
    {"PS512", "RSA", "", "SHA512", true},
    {"ES256", "EC", "P-256", "SHA256", false, 32},
    {"ES384", "EC", "P-384", "SHA384", false, 48},
}};

const Alg* find_alg(std::string_view name) noexcept {
  for (const auto& a : kAlgs) {
    if (a.name == name) {
      return &a;
    }
  }
  return nullptr;
}

const json::object* parse_object(std::string_view text, json::value& holder) {
  boost::system::error_code ec;
  holder = json::parse(text, ec);
  if (ec || !holder.is_object()) {
    return nullptr;
  }
  return &holder.get_object();
}

std::string_view str_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::optional<double> number_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

Bn bn_from_b64(std::string_view b64) {
  auto bytes = base64url_decode(b64);
  if (!bytes || bytes->empty()) {
    return nullptr;
  }
  return Bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()),
                      static_cast<int>(bytes->size()), nullptr));
}

Pkey make_key(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* out = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  Pkey key(out);
  // A point off its curve (or a malformed modulus) must not become a key.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, out, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return nullptr;
  }
  return key;
}

Pkey rsa_key(const json::object& jwk, std::string& why) {
  Bn n = bn_from_b64(str_member(jwk, "n"));
  Bn e = bn_from_b64(str_member(jwk, "e"));
  if (!n || !e) {
    why = "RSA key without valid n and e";
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    why = "RSA key could not be built";
    return nullptr;
  }
  Pkey key = make_key("RSA", bld.get());
  if (!key) {
    why = "RSA key is not valid";
    return nullptr;
  }
  if (EVP_PKEY_get_bits(key.get()) < 2048) {
    why = fmt::format("RSA key of {} bits (at least 2048 needed)", EVP_PKEY_get_bits(key.get()));
    return nullptr;
  }
  return key;
}

Pkey ec_key(const json::object& jwk, std::string_view crv, std::string& why) {
  const std::size_t size = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 0;
  if (size == 0) {
    why = fmt::format("EC curve \"{}\" is not supported (P-256, P-384)", crv);
    return nullptr;
  }
  auto x = base64url_decode(str_member(jwk, "x"));
  auto y = base64url_decode(str_member(jwk, "y"));
  if (!x || !y || x->size() != size || y->size() != size) {
    why = "EC key without valid x and y";
    return nullptr;
  }
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  const char* group = size == 32 ? "prime256v1" : "secp384r1";
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    why = "EC key could not be built";
    return nullptr;
  }
  Pkey key = make_key("EC", bld.get());
  if (!key) {
    why = "EC key is not a point on its curve";
  }
  return key;
}

/// JOSE's raw r||s signature → the DER form OpenSSL verifies.
std::optional<std::string> ecdsa_der(std::string_view raw, std::size_t half) {
  if (raw.size() != 2 * half) {
    return std::nullopt;
  }
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + half), static_cast<int>(half), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) {
    return std::nullopt;
  }
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(sig.get(), &p);
  return der;
}

bool verify_signature(EVP_PKEY* key, const Alg& alg, std::string_view input,
                      std::string_view sig) {
  std::string der;
  if (alg.kty == "EC") {
    auto d = ecdsa_der(sig, alg.ec_size);
    if (!d) {
      return false;
    }
    der = std::move(*d);
    sig = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx ||
      EVP_DigestVerifyInit_ex(ctx.get(), &pctx, alg.digest, nullptr, nullptr, key, nullptr) != 1) {
    return false;
  }
  if (alg.pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                          sig.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

/// A claim's values: a space-separated string (OAuth `scope`) or an array of strings.
std::vector<std::string_view> claim_values(const json::object& claims, std::string_view name) {
  std::vector<std::string_view> out;
  const auto* v = claims.if_contains(name);
  if (v == nullptr) {
    return out;
  }
  if (v->is_string()) {
    std::string_view s = v->get_string();
    while (!s.empty()) {
      const auto sp = s.find(' ');
      if (sp != 0) {
        out.push_back(s.substr(0, sp));
      }
      if (sp == std::string_view::npos) {
        break;
      }
      s.remove_prefix(sp + 1);
    }
  } else if (v->is_array()) {
    for (const auto& item : v->get_array()) {
      if (item.is_string()) {
        out.emplace_back(item.get_string());
      }
    }
  }
  return out;
}

/// The JSON object that `b64` encodes (base64url), kept in `holder`; null if it is not one.
const json::object* decode_object(std::string_view b64, json::value& holder) {
  auto text = base64url_decode(b64);
  return text ? parse_object(*text, holder) : nullptr;
}

/// The token's algorithm, if `cfg` accepts it and the header asks for nothing unknown
/// (`crit`); else null, with r.reason set.
const Alg* accepted_alg(const config::JwtConfig& cfg, const json::object& header, JwtResult& r) {
  const std::string_view alg_name = str_member(header, "alg");
  const Alg* alg = find_alg(alg_name);
  const bool accepted =
      alg != nullptr && (cfg.algorithms.empty() ||
                         std::find(cfg.algorithms.begin(), cfg.algorithms.end(), alg_name) !=
                             cfg.algorithms.end());
  if (!accepted) {
    r.reason = fmt::format("Unauthorized: token algorithm \"{}\" is not accepted", alg_name);
    return nullptr;
  }
  if (header.contains("crit")) {
    r.reason = "Unauthorized: the token has critical header extensions this gateway does not know";
    return nullptr;
  }
  return alg;
}

/// Whether the `aud` claim (a string or an array) names one of `cfg`'s audiences.
bool audience_ok(const config::JwtConfig& cfg, const json::object& claims) {
  auto accepted_audience = [&](std::string_view a) {
    return std::find(cfg.audiences.begin(), cfg.audiences.end(), a) != cfg.audiences.end();
  };
  bool ok = false;
  if (const auto* aud = claims.if_contains("aud"); aud != nullptr && aud->is_string()) {
    ok = accepted_audience(aud->get_string());
  } else if (aud != nullptr && aud->is_array()) {
    for (const auto& item : aud->get_array()) {
      ok = ok || (item.is_string() && accepted_audience(item.get_string()));
    }
  }
  return ok;
}

/// Checks the claims of a token whose signature holds: issuer, audience, expiry (into `exp`),
/// not-before and subject. Sets r.subject when there is one; false with r.reason set if a
/// check fails.
bool check_claims(const config::JwtConfig& cfg, const json::object& claims, std::int64_t now,
                  std::int64_t& exp, JwtResult& r) {
  // The signature holds: the subject names who was refused, in the audit trail.
  const std::string_view sub = str_member(claims, cfg.subject_claim);
  if (!sub.empty()) {
    r.subject = fmt::format("jwt:{}", sub);
  }
  if (str_member(claims, "iss") != cfg.issuer) {
    r.reason = fmt::format("Unauthorized: the token's issuer is not {}", cfg.issuer);
    return false;
  }
  if (!audience_ok(cfg, claims)) {
    r.reason = "Unauthorized: the token's audience is not this gateway";
    return false;
  }
  const auto exp_claim = number_member(claims, "exp");
  if (!exp_claim) {
    r.reason = "Unauthorized: the token has no expiry (exp)";
    return false;
  }
  exp = static_cast<std::int64_t>(*exp_claim);
  if (now > exp + cfg.leeway_s) {
    r.reason = "Unauthorized: the token has expired";
    return false;
  }
  if (const auto nbf = number_member(claims, "nbf");
      nbf && now + cfg.leeway_s < static_cast<std::int64_t>(*nbf)) {
    r.reason = "Unauthorized: the token is not valid yet (nbf)";
    return false;
  }
  if (sub.empty()) {
    r.reason = fmt::format("Unauthorized: the token has no \"{}\" claim", cfg.subject_claim);
    return false;
  }
  return true;
}

/// The principal named r.subject with the grants the token's grants claim maps to (everything
/// when `cfg` maps none). Null, with r.status and r.reason set, if it carries none of them.
std::shared_ptr<Principal> principal_for(const config::JwtConfig& cfg,
                                         const json::object& claims, JwtResult& r) {
  auto p = std::make_shared<Principal>();
  p->name = r.subject;
  if (cfg.grants.empty()) {
    p->grants.emplace_back();  // no mapping configured: a valid token may use everything
    return p;
  }
  auto values = claim_values(claims, cfg.grants_claim);
  if (values.empty() && cfg.grants_claim == "scope") {
    values = claim_values(claims, "scp");  // Azure AD and Okta spell it so
  }
  for (auto v : values) {
    if (auto it = cfg.grants.find(std::string(v)); it != cfg.grants.end()) {
      p->grants.push_back({it->second.servers, it->second.tools, it->second.deny_tools});
    }
  }
  if (p->grants.empty()) {
    std::string known;
    for (const auto& [name, g] : cfg.grants) {
      known += known.empty() ? name : " " + name;
    }
    r.status = JwtStatus::forbidden;
    r.reason = fmt::format("Forbidden: the token carries none of the scopes this gateway "
                           "grants ({})", known);
    return nullptr;
  }
  return p;
}

}  // namespace

bool looks_like_jwt(std::string_view token) noexcept {
  const auto a = token.find('.');
  if (a == std::string_view::npos || token.substr(0, 3) != "eyJ") {
    return false;
  }
  const auto b = token.find('.', a + 1);
  return b != std::string_view::npos && token.find('.', b + 1) == std::string_view::npos;
}

struct JwtVerifier::Key {
  std::string kid;
  std::string kty;
  std::string crv;
  std::string alg;  ///< the JWK's own `alg`, if it names one
  Pkey pkey;
};

JwtVerifier::JwtVerifier(config::JwtConfig cfg) : cfg_(std::move(cfg)) {}
JwtVerifier::~JwtVerifier() = default;

bool JwtVerifier::set_jwks(std::string_view text, std::string& error, std::string* skipped) {
  json::value holder;
  const json::object* doc = parse_object(text, holder);
  const json::value* list = doc != nullptr ? doc->if_contains("keys") : nullptr;
  if (list == nullptr || !list->is_array()) {
    error = "not a JWKS (expected a JSON object with a \"keys\" array)";
    return false;
  }
  std::vector<std::unique_ptr<Key>> keys;
  std::string skip;
  std::size_t i = 0;
  for (const auto& item : list->get_array()) {
    const std::string label = fmt::format("keys[{}]", i++);
    if (!item.is_object()) {
      skip += fmt::format("{}{}: not an object", skip.empty() ? "" : "; ", label);
      continue;
    }
    const auto& jwk = item.get_object();
    auto k = std::make_unique<Key>();
    k->kid = str_member(jwk, "kid");
    k->kty = str_member(jwk, "kty");
    k->crv = str_member(jwk, "crv");
    k->alg = str_member(jwk, "alg");
    const std::string name = k->kid.empty() ? label : fmt::format("key \"{}\"", k->kid);
    std::string why;
    const std::string_view use = str_member(jwk, "use");
    if (!use.empty() && use != "sig") {
      why = fmt::format("use is \"{}\", not \"sig\"", use);
    } else if (!k->alg.empty() && find_alg(k->alg) == nullptr) {
      why = fmt::format("alg \"{}\" is not supported", k->alg);
    } else if (k->kty == "RSA") {
      k->pkey = rsa_key(jwk, why);
    } else if (k->kty == "EC") {
      k->pkey = ec_key(jwk, k->crv, why);
    } else {
      why = fmt::format("kty \"{}\" is not supported (RSA, EC)", k->kty);
    }
    if (!k->pkey) {
      skip += fmt::format("{}{}: {}", skip.empty() ? "" : "; ", name, why);
      continue;
    }
    keys.push_back(std::move(k));
  }
  if (skipped != nullptr) {
    *skipped = skip;
  }
  if (keys.empty()) {
    error = skip.empty() ? "the JWKS has no keys" : "the JWKS has no usable key (" + skip + ")";
    return false;
  }
  keys_ = std::move(keys);
  ++generation_;
  cache_.clear();  // a key taken out of the set must stop admitting its tokens at once
  return true;
}

bool JwtVerifier::poll_file(std::string& error) {
  if (cfg_.jwks_is_url || cfg_.jwks.empty()) {
    return true;
  }
  const auto t = std::chrono::steady_clock::now();
  if (file_checked_ != std::chrono::steady_clock::time_point{} &&
      t - file_checked_ < std::chrono::seconds(1)) {
    return true;
  }
  file_checked_ = t;
  struct stat st {};
  if (::stat(cfg_.jwks.c_str(), &st) != 0) {
    error = fmt::format("cannot read the JWKS file {}", cfg_.jwks);
    if (keys_.empty()) {
      keys_error_ = error;
    }
    return false;
  }
  const std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                             st.st_mtim.tv_nsec;
  if (mtime == file_mtime_ns_ && st.st_size == file_size_) {
    return true;
  }
  std::ifstream in(cfg_.jwks, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    error = fmt::format("cannot read the JWKS file {}", cfg_.jwks);
    return false;
  }
  file_mtime_ns_ = mtime;
  file_size_ = st.st_size;
  std::string why;
  if (!set_jwks(text.str(), why)) {
    error = fmt::format("JWKS file {}: {}", cfg_.jwks, why);
    if (keys_.empty()) {
      keys_error_ = error;
    }
    return false;
  }
  return true;
}

JwtResult JwtVerifier::verify(std::string_view token, std::int64_t now) {
  if (auto it = cache_.find(token); it != cache_.end()) {
    if (now <= it->second.exp + cfg_.leeway_s) {
      JwtResult r;
      r.status = JwtStatus::ok;
      r.principal = it->second.principal;
      r.subject = r.principal->name;
      return r;
    }
    cache_.erase(it);  // expired: checked again below, which says so
  }
  std::int64_t exp = 0;
  JwtResult r = check(token, now, exp);
  if (r.status == JwtStatus::ok) {
    if (cache_.size() >= kMaxCached) {
      cache_.clear();
    }
    cache_.emplace(std::string(token), Cached{r.principal, exp});
  }
  return r;
}

JwtResult JwtVerifier::check(std::string_view token, std::int64_t now, std::int64_t& exp) {
  JwtResult r;
  r.status = JwtStatus::invalid;
  if (token.size() > kMaxToken || !looks_like_jwt(token)) {
    r.reason = "Unauthorized: the token is not a well-formed JWT";
    return r;
  }
  const auto dot1 = token.find('.');
  const auto dot2 = token.find('.', dot1 + 1);
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_b64 = token.substr(dot2 + 1);

  json::value header_holder;
  const json::object* header = decode_object(header_b64, header_holder);
  auto sig = base64url_decode(sig_b64);
  if (header == nullptr || !sig) {
    r.reason = "Unauthorized: the token is not a well-formed JWT";
    return r;
  }
  const Alg* alg = accepted_alg(cfg_, *header, r);
  if (alg == nullptr) {
    return r;
  }
  if (keys_.empty()) {
    r.status = JwtStatus::no_keys;
    r.reason = fmt::format("Unauthorized: tokens cannot be checked now ({})", keys_error_);
    return r;
  }
  const std::string_view kid = str_member(*header, "kid");
  bool kid_known = false;
  bool verified = false;
  for (const auto& k : keys_) {
    if (!kid.empty() && k->kid != kid) {
      continue;
    }
    kid_known = true;
    if (k->kty != alg->kty || (!alg->crv.empty() && k->crv != alg->crv) ||
        (!k->alg.empty() && k->alg != alg->name)) {
      continue;  // this key is not for this algorithm
    }
    if (verify_signature(k->pkey.get(), *alg, token.substr(0, dot2), *sig)) {
      verified = true;
      break;
    }
  }
  if (!kid_known) {
    r.status = JwtStatus::unknown_kid;
    r.reason = fmt::format("Unauthorized: the token was signed by an unknown key (kid \"{}\")", kid);
    return r;
  }
  if (!verified) {
    r.reason = "Unauthorized: the token's signature does not verify";
    return r;
  }

  json::value claims_holder;
  const json::object* claims = decode_object(payload_b64, claims_holder);
  if (claims == nullptr) {
    r.reason = "Unauthorized: the token's claims are not a JSON object";
    return r;
  }
  if (!check_claims(cfg_, *claims, now, exp, r)) {
    return r;
  }
  auto p = principal_for(cfg_, *claims, r);
  if (!p) {
    return r;
  }
  r.status = JwtStatus::ok;
  r.principal = std::move(p);
  return r;
}

}  // namespace mcpgw::access
