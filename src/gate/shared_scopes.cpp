#include "gate/shared_scopes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::gate {

namespace {

// One round trip each, atomic on the server: the expiry is renewed by every use.
constexpr std::string_view kPull =
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) return redis.call('HGETALL', KEYS[1])";
constexpr std::string_view kPush =
    "for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) return 1";

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
                                                              std::chrono::milliseconds ttl) {
  if (scope.untrusted && scope.secrets) {
    co_return std::nullopt;  // taint never clears: nothing another replica did can add to it
  }
  auto reply = co_await redis_->command(words(kPull, key(scope), ttl));
  if (!reply || reply->type != upstream::RedisReply::Type::array) {
    co_return down("read");
  }
  warned_ = false;
  const auto& kv = reply->elements;
  for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (kv[i].str == "untrusted") {
      if (!scope.untrusted) scope.mark_untrusted(kv[i + 1].str);
      scope.shared_untrusted = true;
    } else if (kv[i].str == "secrets") {
      if (!scope.secrets) scope.mark_secrets(kv[i + 1].str);
      scope.shared_secrets = true;
    }
  }
  co_return std::nullopt;
}

asio::awaitable<std::optional<std::string>> SharedScopes::push(Scope& scope,
                                                              std::chrono::milliseconds ttl) {
  const bool untrusted = scope.untrusted && !scope.shared_untrusted;
  const bool secrets = scope.secrets && !scope.shared_secrets;
  if (!untrusted && !secrets) {
    co_return std::nullopt;
  }
  auto argv = words(kPush, key(scope), ttl);
  if (untrusted) {
    argv.emplace_back("untrusted");
    argv.push_back(first_or(scope.untrusted_by, "?"));
  }
  if (secrets) {
    argv.emplace_back("secrets");
    argv.push_back(first_or(scope.secrets_by, "?"));
  }
  auto reply = co_await redis_->command(std::move(argv));
  if (!reply || reply->type == upstream::RedisReply::Type::error) {
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
