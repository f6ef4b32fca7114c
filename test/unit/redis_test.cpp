// The Redis client against a real redis-server (Debian's), started by the test on a free
// loopback port and stopped by its pid.
#include "gate/shared_scopes.hpp"
#include "upstream/redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <string>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace mcpgw::upstream {
namespace {

std::uint16_t free_port() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool accepting(std::uint16_t port) {
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

/// redis-server on 127.0.0.1:`port`, nothing saved to disk.
class RedisServer {
 public:
  explicit RedisServer(std::uint16_t port) : port_(port) {
    const std::string p = std::to_string(port);
    std::vector<std::string> argv{"redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--loglevel", "warning"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, "redis-server", nullptr, nullptr, args.data(), environ) != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 200 && !accepting(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~RedisServer() { stop(); }
  bool running() const { return pid_ > 0 && accepting(port_); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);  // the server this test started
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

/// Runs `body` on an event loop of its own until it ends.
void run(const std::function<asio::awaitable<void>(asio::any_io_executor)>& body) {
  asio::io_context ioc;
  bool done = false;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    co_await body(ioc.get_executor());
    done = true;
  }, asio::detached);
  ioc.run();
  ASSERT_TRUE(done);
}

TEST(Redis, SendsCommandsAndReadsEveryKindOfReply) {
  const auto port = free_port();
  RedisServer server(port);
  ASSERT_TRUE(server.running()) << "redis-server (Debian's redis-server package) did not start";
  run([port](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto redis = Redis::create(ex, RedisOptions{.port = port});
    auto set = co_await redis->command(redis_args("SET", "k", std::string("v\0w", 3)));
    EXPECT_TRUE(set && set->type == RedisReply::Type::status && set->str == "OK");
    auto get = co_await redis->command(redis_args("GET", "k"));
    EXPECT_TRUE(get && get->type == RedisReply::Type::string && get->str == std::string("v\0w", 3))
        << "binary-safe";
    auto nil = co_await redis->command(redis_args("GET", "absent"));
    EXPECT_TRUE(nil && nil->type == RedisReply::Type::nil);
    auto n = co_await redis->command(redis_args("HSET", "h", "a", "1", "b", "2"));
    EXPECT_TRUE(n && n->type == RedisReply::Type::integer && n->integer == 2);
    auto all = co_await redis->command(redis_args("HGETALL", "h"));
    EXPECT_TRUE(all && all->type == RedisReply::Type::array && all->elements.size() == 4);
    auto wrong = co_await redis->command(redis_args("INCR", "k"));
    EXPECT_TRUE(wrong && wrong->type == RedisReply::Type::error) << "an error reply is a reply";
    EXPECT_TRUE(redis->up());
  });
}

TEST(Redis, FailsWithinItsDeadlineWhenRedisIsGoneAndReconnectsWhenItIsBack) {
  const auto port = free_port();
  run([port](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto redis = Redis::create(ex, RedisOptions{.port = port, .timeout = std::chrono::milliseconds(300)});
    auto none = co_await redis->command(redis_args("PING"));
    EXPECT_FALSE(none) << "nothing listens";
    EXPECT_FALSE(redis->up());
    EXPECT_FALSE(redis->last_error().empty());
    {
      RedisServer server(port);
      EXPECT_TRUE(server.running());
      auto pong = co_await redis->command(redis_args("PING"));
      EXPECT_TRUE(pong && pong->str == "PONG") << "connected on the next command";
      server.stop();
      auto gone = co_await redis->command(redis_args("PING"));
      EXPECT_FALSE(gone) << "the server died";
    }
    RedisServer again(port);
    EXPECT_TRUE(again.running());
    auto back = co_await redis->command(redis_args("PING"));
    EXPECT_TRUE(back && back->str == "PONG") << "reconnected";
  });
}

TEST(SharedScopes, ReadsAndWritesMarksAndNeverAsksAgainAboutAFullyTaintedScope) {
  const auto port = free_port();
  auto server = std::make_unique<RedisServer>(port);
  ASSERT_TRUE(server->running());
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    using gate::SharedScopes;
    const auto ttl = std::chrono::milliseconds(60'000);
    SharedScopes shared(Redis::create(ex, RedisOptions{.port = port, .timeout = std::chrono::milliseconds(300)}),
                        SharedScopes::WhenDown::refuse);
    gate::Scope here{.principal = "alice", .id = "task:1"};
    here.mark_secrets("vault/get_secret");
    EXPECT_FALSE(co_await shared.push(here, ttl));
    gate::Scope there{.principal = "alice", .id = "task:1"};  // the same scope on another replica
    there.mark_untrusted("web/fetch_page");
    EXPECT_FALSE(co_await shared.push(there, ttl));
    EXPECT_FALSE(co_await shared.pull(there, ttl));
    EXPECT_TRUE(there.secrets) << "the mark made on the other replica is read";
    EXPECT_EQ(there.secrets_by, std::vector<std::string>{"vault/get_secret"});
    gate::Scope stranger{.principal = "alice:task", .id = "1"};
    EXPECT_NE(SharedScopes::key(stranger), SharedScopes::key(there)) << "no ':' ambiguity";
    server->stop();
    EXPECT_FALSE(co_await shared.pull(there, ttl))
        << "fully tainted: nothing to read, so no round trip (and Redis being down is no matter)";
    gate::Scope clean{.principal = "bob", .id = "t"};
    auto refused = co_await shared.pull(clean, ttl);
    EXPECT_TRUE(refused) << "a clean scope is never trusted without asking";
    EXPECT_NE(refused.value_or("").find("fails closed"), std::string::npos) << refused.value_or("");
  });
}

TEST(Redis, ParsesUrls) {
  std::string error;
  auto o = parse_redis_url("redis://:s3cret@cache.internal:6380/2", error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->host, "cache.internal");
  EXPECT_EQ(o->port, 6380);
  EXPECT_EQ(o->password, "s3cret");
  EXPECT_EQ(o->db, 2);
  auto d = parse_redis_url("redis://127.0.0.1", error);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
  EXPECT_FALSE(parse_redis_url("http://127.0.0.1:6379", error));
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:6379/x", error));
}

}  // namespace
}  // namespace mcpgw::upstream
