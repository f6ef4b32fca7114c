#include "gate/shared_approvals.hpp"

#include "common/clock.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace mcpgw::gate {

namespace {

constexpr std::string_view kHeld = "mcpgw:approvals";
constexpr std::string_view kDecisionPrefix = "mcpgw:approval:";
/// How long a decision waits for its holder to take it.
constexpr std::chrono::milliseconds kDecisionTtl{60'000};
// The decision is written only while the approval is held (atomically with the check).
constexpr std::string_view kDecide =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end "
    "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) return 1";

std::string decision_key(std::string_view id) {
  return std::string(kDecisionPrefix).append(id);
}

}  // namespace

asio::awaitable<bool> SharedApprovals::publish(const Approval& a, std::int64_t expires_ms) {
  json::object o = approval_json(a);
  o["replica"] = replica_;
  o["expires"] = expires_ms;
  auto r = co_await redis_->command(upstream::redis_args("HSET", kHeld, a.id, json::serialize(o)));
  co_return r && r->type != upstream::RedisReply::Type::error;
}

asio::awaitable<std::optional<bool>> SharedApprovals::decision(std::string_view id) {
  auto r = co_await redis_->command(upstream::redis_args("GETDEL", decision_key(id)));
  if (!r || r->type != upstream::RedisReply::Type::string) {
    co_return std::nullopt;
  }
  co_return r->str == "approve";
}

asio::awaitable<void> SharedApprovals::withdraw(std::string_view id) {
  co_await redis_->command(upstream::redis_args("HDEL", kHeld, id));
}

asio::awaitable<std::optional<json::array>> SharedApprovals::list() {
  auto r = co_await redis_->command(upstream::redis_args("HGETALL", kHeld));
  if (!r || r->type != upstream::RedisReply::Type::array) {
    co_return std::nullopt;
  }
  json::array out;
  const auto now = unix_ms();
  const auto& kv = r->elements;
  for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
    boost::system::error_code ec;
    auto v = json::parse(kv[i + 1].str, ec);
    const auto* expires = !ec && v.is_object() ? v.get_object().if_contains("expires") : nullptr;
    if (expires == nullptr || !expires->is_int64() || expires->get_int64() < now) {
      co_await redis_->command(upstream::redis_args("HDEL", kHeld, kv[i].str));  // its replica died holding it
      continue;
    }
    out.push_back(std::move(v));
  }
  co_return out;
}

asio::awaitable<SharedApprovals::Decided> SharedApprovals::decide(std::string_view id,
                                                                   bool approve) {
  auto r = co_await redis_->command(upstream::redis_args("EVAL", kDecide, "2", kHeld, decision_key(id), id,
                                        approve ? "approve" : "deny",
                                        std::to_string(kDecisionTtl.count())));
  if (!r || r->type != upstream::RedisReply::Type::integer) {
    co_return Decided::unreachable;
  }
  co_return r->integer == 1 ? Decided::written : Decided::unknown;
}

}  // namespace mcpgw::gate
