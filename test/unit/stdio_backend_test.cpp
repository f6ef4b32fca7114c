// StdioBackend against real child processes: the project's demo server, and shells that
// misbehave on purpose.
#include "common/error.hpp"
#include "jsonrpc/message.hpp"
#include "upstream/stdio_backend.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <csignal>

namespace mcpgw::upstream {
namespace {

namespace asio = boost::asio;

struct Recorder : BackendListener {
  std::vector<json::object> messages;
  std::vector<BackendState> states;
  void on_backend_message(Backend&, json::object&& msg) override { messages.push_back(std::move(msg)); }
  void on_backend_state(Backend&, BackendState s) override { states.push_back(s); }
};

class StdioBackendTest : public ::testing::Test {
 protected:
  StdioBackendTest() : reaper_(ioc_) {
    Reaper::install(&reaper_);
    std::signal(SIGPIPE, SIG_IGN);  // as `mcpgw serve` does: a dead child's pipe is an error, not a kill
  }

  config::ServerConfig server(std::string command, std::vector<std::string> args = {}) {
    config::ServerConfig s;
    s.name = "t";
    s.command = std::move(command);
    s.args = std::move(args);
    s.cwd = "/";
    return s;
  }

  /// Runs `body` as a coroutine on the test's event loop, bounded in time.
  template <class F>
  void run(F body) {
    bool finished = false;
    asio::co_spawn(ioc_, [&]() -> asio::awaitable<void> {
      co_await body();
      finished = true;
    }, [this](std::exception_ptr e) {
      ioc_.stop();  // the reaper's signal wait would otherwise keep the loop running
      if (e) {
        std::rethrow_exception(e);
      }
    });
    ioc_.run_for(std::chrono::seconds(20));
    ASSERT_TRUE(finished) << "test coroutine did not finish in time";
  }

  static json::object call_echo(std::string_view message, json::value id) {
    json::object args;
    args["message"] = message;
    json::object params;
    params["name"] = "echo";
    params["arguments"] = std::move(args);
    return jsonrpc::make_request(std::move(id), "tools/call", std::move(params));
  }

  static std::string text_of(const json::object& response) {
    return std::string(response.at("result").at("content").at(0).at("text").as_string());
  }

  asio::io_context ioc_;
  Reaper reaper_;
  config::GatewayConfig gateway_;
  Recorder recorder_;
};

TEST_F(StdioBackendTest, RemapsIdsSoEqualClientIdsGetTheirOwnResponses) {
  auto cfg = server(MCPGW_DEMO_BIN);
  auto b = std::make_shared<StdioBackend>(ioc_.get_executor(), cfg, gateway_, ClientIdentity{},
                                          recorder_);
  b->start();
  run([&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await b->wait_ready(Clock::now() + std::chrono::seconds(10)));
    EXPECT_EQ(b->info().server_info.at("name").as_string(), "mcpgw-demo");
    // Two sessions both use id 1: the server sees distinct ids, each caller its own answer.
    auto first = b->send_request(call_echo("from A", 1));
    auto second = b->send_request(call_echo("from B", 1));
    EXPECT_NE(first->wire_id, second->wire_id);
    EXPECT_TRUE(co_await first->done.wait_until(Clock::now() + std::chrono::seconds(5)));
    EXPECT_TRUE(co_await second->done.wait_until(Clock::now() + std::chrono::seconds(5)));
    EXPECT_EQ(text_of(*first->response), "Echo: from A");
    EXPECT_EQ(text_of(*second->response), "Echo: from B");
    co_await b->stop();
  });
  EXPECT_EQ(b->state(), BackendState::stopped);
}

TEST_F(StdioBackendTest, ACrashFailsInFlightCallsAtOnceAndRestarts) {
  auto cfg = server(MCPGW_DEMO_BIN);
  auto b = std::make_shared<StdioBackend>(ioc_.get_executor(), cfg, gateway_, ClientIdentity{},
                                          recorder_);
  b->start();
  run([&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await b->wait_ready(Clock::now() + std::chrono::seconds(10)));
    const long pid = b->pid();
    json::object args;
    args["ms"] = 10000;
    json::object params;
    params["name"] = "sleep";
    params["arguments"] = std::move(args);
    auto slow = b->send_request(jsonrpc::make_request(1, "tools/call", std::move(params)));
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    const auto t0 = Clock::now();
    EXPECT_TRUE(co_await slow->done.wait_until(Clock::now() + std::chrono::seconds(2)));
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
    EXPECT_EQ(slow->ec, make_error_code(Errc::upstream_closed));
    EXPECT_NE(slow->detail.find("killed by signal 9"), std::string::npos) << slow->detail;
    // It comes back with a new process and serves again.
    EXPECT_TRUE(co_await b->wait_ready(Clock::now() + std::chrono::seconds(10)));
    EXPECT_NE(b->pid(), pid);
    EXPECT_EQ(b->last_error(), "");
    EXPECT_EQ(b->restarts(), 1u);
    auto again = b->send_request(call_echo("back", 2));
    EXPECT_TRUE(co_await again->done.wait_until(Clock::now() + std::chrono::seconds(5)));
    EXPECT_EQ(text_of(*again->response), "Echo: back");
    co_await b->stop();
  });
}

TEST_F(StdioBackendTest, NonJsonStdoutLinesAreIgnored) {
  // A server that prints a banner before speaking JSON-RPC.
  auto cfg = server("/bin/sh", {"-c", std::string("echo 'starting up...'; exec ") + MCPGW_DEMO_BIN});
  auto b = std::make_shared<StdioBackend>(ioc_.get_executor(), cfg, gateway_, ClientIdentity{},
                                          recorder_);
  b->start();
  run([&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await b->wait_ready(Clock::now() + std::chrono::seconds(10)));
    co_await b->stop();
  });
}

TEST_F(StdioBackendTest, AServerThatNeverAnswersInitializeIsReportedAndRetried) {
  gateway_.timeouts.startup = std::chrono::milliseconds(300);
  auto cfg = server("/bin/sh", {"-c", "exec sleep 30"});
  auto b = std::make_shared<StdioBackend>(ioc_.get_executor(), cfg, gateway_, ClientIdentity{},
                                          recorder_);
  b->start();
  run([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(co_await b->wait_ready(Clock::now() + std::chrono::milliseconds(1500)));
    EXPECT_NE(b->last_error().find("no answer to initialize"), std::string::npos) << b->last_error();
    EXPECT_GE(b->consecutive_failures(), 1u);
    // A request meanwhile fails at once instead of waiting.
    auto call = b->send_request(call_echo("x", 1));
    EXPECT_TRUE(call->done.is_set());
    EXPECT_EQ(call->ec, make_error_code(Errc::upstream_unavailable));
    co_await b->stop();
  });
}

TEST_F(StdioBackendTest, ACommandThatCannotRunSaysWhy) {
  auto cfg = server("/nonexistent/server");
  auto b = std::make_shared<StdioBackend>(ioc_.get_executor(), cfg, gateway_, ClientIdentity{},
                                          recorder_);
  b->start();
  run([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(co_await b->wait_ready(Clock::now() + std::chrono::milliseconds(500)));
    EXPECT_NE(b->last_error().find("cannot run /nonexistent/server"), std::string::npos)
        << b->last_error();
    co_await b->stop();
  });
}

}  // namespace
}  // namespace mcpgw::upstream

namespace mcpgw::upstream {
namespace {

TEST_F(StdioBackendTest, AServerThatDiesAtStartupFailsFastWithItsExitStatus) {
  gateway_.timeouts.startup = std::chrono::seconds(30);
  auto cfg = server("/bin/sh", {"-c", "echo 'config missing' >&2; exit 3"});
  auto b = std::make_shared<StdioBackend>(ioc_.get_executor(), cfg, gateway_, ClientIdentity{},
                                          recorder_);
  b->start();
  run([&]() -> asio::awaitable<void> {
    // Not the 30 s startup timeout: the exit is noticed at once.
    EXPECT_FALSE(co_await b->wait_ready(Clock::now() + std::chrono::milliseconds(200)));
    EXPECT_EQ(b->last_error(), "exited during initialize: process exited with status 3");
    co_await b->stop();
  });
}

}  // namespace
}  // namespace mcpgw::upstream
