#include "gate/shared_scopes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <iterator>

namespace mcpgw::gate {

namespace {

// One round trip each, atomic on the server: the expiry is renewed by every use.
constexpr std::string_view kPull =
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) return redis.call('HGETALL', KEYS[1])";
/// The marks and the values added since ARGV[2] (a position in the values' list).
constexpr std::string_view kPullValues =
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) redis.call('PEXPIRE', KEYS[2], ARGV[1]) "
    "return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], ARGV[2], -1)}";
/// ARGV[2] marks (name, source), then values; the list is bounded (kMaxValues).
constexpr std::string_view kPush =
    "local n = tonumber(ARGV[2]) "
    "for i = 3, 2 + 2 * n, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end "
    "for i = 3 + 2 * n, #ARGV do "
    "  if redis.call('LLEN', KEYS[2]) < 1024 then redis.call('RPUSH', KEYS[2], ARGV[i]) end "
    "end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) redis.call('PEXPIRE', KEYS[2], ARGV[1]) return 1";

std::string first_or(const std::vector<std::string>& sources, std::string_view fallback) {
  return sources.empty() ? std::string(fallback) : sources.front();
}

std::vector<std::string> words(std::string_view script, const std::string& key,
                               std::chrono::milliseconds ttl) {
  return upstream::redis_args("EVAL", script, "1", key, std::to_string(ttl.count()));
}

}  // namespace

std::string SharedScopes::key(const Scope& scope) {
  return fmt::format("mcpgw:scope:{}:{}:{}", scope.principal.size(), scope.principal, scope.id);
}

std::string SharedScopes::encode(const SecretValues::Kept& v) {
  std::string out = v.source;
  out.reserve(v.source.size() + 1 + 16 * v.grams.size());
  out.push_back('\n');
  for (auto h : v.grams) {
    fmt::format_to(std::back_inserter(out), "{:016x}", h);
  }
  return out;
}

std::optional<SecretValues::Kept> SharedScopes::decode(std::string_view text) {
  const auto nl = text.find('\n');
  if (nl == std::string_view::npos || (text.size() - nl - 1) % 16 != 0) {
    return std::nullopt;
  }
  SecretValues::Kept v;
  v.source = std::string(text.substr(0, nl));
  for (std::size_t i = nl + 1; i < text.size(); i += 16) {
    std::uint64_t h = 0;
    auto r = std::from_chars(text.data() + i, text.data() + i + 16, h, 16);
    if (r.ec != std::errc() || r.ptr != text.data() + i + 16) {
      return std::nullopt;
    }
    v.grams.push_back(h);
  }
  return v;
}

std::optional<std::string> SharedScopes::down(std::string_view what) {
  const std::string error = redis_->last_error().empty() ? "no reply" : redis_->last_error();
  if (when_down_ == WhenDown::local) {
    if (!warned_) {
      spdlog::warn("cluster: the shared taint state (Redis) cannot be {}: {}; gating with this "
                   "replica's own (gateway.cluster.whenRedisDown \"local\")", what, error);
      warned_ = true;
    }
    return std::nullopt;
  }
  return fmt::format("the shared taint state (Redis) cannot be {} ({}), and the gate fails "
                     "closed (gateway.cluster.whenRedisDown)", what, error);
}

asio::awaitable<std::optional<std::string>> SharedScopes::pull(Scope& scope,
                                                              std::chrono::milliseconds ttl,
                                                              bool values) {
  scope.values.share();
  if (scope.untrusted && scope.secrets && !values) {
    co_return std::nullopt;  // taint never clears: nothing another replica did can add to it
  }
  std::vector<std::string> argv;
  if (values) {
    argv = upstream::redis_args("EVAL", kPullValues, "2", key(scope), key(scope) + ":values",
                                std::to_string(ttl.count()), std::to_string(scope.values_seen));
  } else {
    argv = words(kPull, key(scope), ttl);
  }
  auto reply = co_await redis_->command(std::move(argv));
  if (!reply || reply->type != upstream::RedisReply::Type::array ||
      (values && reply->elements.size() != 2)) {
    co_return down("read");
  }
  warned_ = false;
  take_marks(scope, values ? reply->elements[0].elements : reply->elements);
  if (values) {
    for (const auto& e : reply->elements[1].elements) {
      if (auto v = decode(e.str)) {
        scope.values.adopt(v->source, v->grams);
      }
    }
    scope.values_seen += reply->elements[1].elements.size();
  }
  co_return std::nullopt;
}

void SharedScopes::take_marks(Scope& scope, const std::vector<upstream::RedisReply>& kv) {
  for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (kv[i].str == "untrusted") {
      if (!scope.untrusted) scope.mark_untrusted(kv[i + 1].str);
      scope.shared_untrusted = true;
    } else if (kv[i].str == "secrets") {
      if (!scope.secrets) scope.mark_secrets(kv[i + 1].str);
      scope.shared_secrets = true;
    }
  }
}

asio::awaitable<std::optional<std::string>> SharedScopes::push(Scope& scope,
                                                              std::chrono::milliseconds ttl) {
  const bool untrusted = scope.untrusted && !scope.shared_untrusted;
  const bool secrets = scope.secrets && !scope.shared_secrets;
  auto unshared = scope.values.take_unshared();
  if (!untrusted && !secrets && unshared.empty()) {
    co_return std::nullopt;
  }
  auto argv = upstream::redis_args("EVAL", kPush, "2", key(scope), key(scope) + ":values",
                                   std::to_string(ttl.count()),
                                   std::to_string((untrusted ? 1 : 0) + (secrets ? 1 : 0)));
  if (untrusted) {
    argv.emplace_back("untrusted");
    argv.push_back(first_or(scope.untrusted_by, "?"));
  }
  if (secrets) {
    argv.emplace_back("secrets");
    argv.push_back(first_or(scope.secrets_by, "?"));
  }
  for (const auto& v : unshared) {
    argv.push_back(encode(v));
  }
  auto reply = co_await redis_->command(std::move(argv));
  if (!reply || reply->type == upstream::RedisReply::Type::error) {
    scope.values.requeue(std::move(unshared));  // written with the next result
    co_return down("written");
  }
  warned_ = false;
  scope.shared_untrusted |= untrusted;
  scope.shared_secrets |= secrets;
  co_return std::nullopt;
}

boost::json::object SharedScopes::status() const {
  boost::json::object o;
  o["redis"] = redis_->up() ? "up" : "down";
  if (!redis_->last_error().empty()) {
    o["error"] = redis_->last_error();
  }
  return o;
}

}  // namespace mcpgw::gate
