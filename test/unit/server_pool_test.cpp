// The server pool and its slots: lists fetched once however many ask, every page, and the
// state each server last reported.
#include "upstream/server_pool.hpp"
#include "upstream/server_slot.hpp"

#include "jsonrpc/message.hpp"
#include "ready_backend.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

namespace {

using namespace mcpgw;
namespace json = boost::json;
using upstream::BackendState;
using upstream::ListKind;

/// A ready server whose tools/list comes in pages of two (five tools in all), each answered
/// on a later turn of the loop, or never when `silent`. Counts the requests it got.
class PagedBackend final : public fakes::ReadyBackend {
 public:
  PagedBackend(asio::any_io_executor ex, bool tools) : ReadyBackend(std::move(ex), "paged") {
    if (tools) {
      info_.capabilities["tools"] = json::object();
    }
  }
  void cancel(upstream::Call& call, boost::system::error_code ec, std::string_view why) override {
    ++cancelled;
    ReadyBackend::cancel(call, ec, why);
  }

  using upstream::Backend::send_request;
  upstream::CallPtr send_request(json::object&& request,
                                 std::vector<std::pair<std::string, std::string>>) override {
    ++requests;
    auto call = std::make_shared<upstream::Call>(ex_);
    if (silent) {
      return call;
    }
    std::int64_t from = 0;
    if (const auto* p = request.if_contains("params")) {
      if (const auto* c = p->as_object().if_contains("cursor")) {
        from = c->as_int64();
      }
    }
    json::array tools;
    for (std::int64_t i = from; i < std::min<std::int64_t>(from + 2, 5); ++i) {
      tools.push_back(json::object{{"name", fmt::format("t{}", i)}});
    }
    json::object result{{"tools", std::move(tools)}};
    if (from + 2 < 5) {
      result["nextCursor"] = from + 2;
    }
    auto response = jsonrpc::make_result(request.at("id"), std::move(result));
    asio::post(ex_, [call, response = std::move(response)]() mutable {
      call->response = std::move(response);
      call->done.set();
    });
    return call;
  }

  int requests = 0;
  int cancelled = 0;
  bool silent = false;
};

config::ServerConfig server_named(std::string name) {
  config::ServerConfig s;
  s.name = std::move(name);
  return s;
}

class ServerSlotTest : public ::testing::Test {
 protected:
  /// Fetches the slot's tools `n` times side by side; returns each caller's answer size
  /// (-1: none).
  std::vector<int> fetch(upstream::ServerSlot& slot, int n, std::chrono::milliseconds call) {
    std::vector<int> sizes(n, -2);
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(ioc_, [&, i]() -> asio::awaitable<void> {
        bool filled = false;
        auto items = co_await slot.fetch_list(ioc_.get_executor(), ListKind::tools,
                                              {call, call}, filled);
        sizes[i] = items ? static_cast<int>(items->size()) : -1;
        fills += filled ? 1 : 0;
      }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    }
    ioc_.restart();
    ioc_.run_for(call + std::chrono::milliseconds(200));
    return sizes;
  }

  asio::io_context ioc_;
  config::ServerConfig cfg_ = server_named("paged");
  int fills = 0;
};

TEST_F(ServerSlotTest, ConcurrentCallersShareOneFetchOfEveryPage) {
  upstream::ServerSlot slot(std::make_shared<const config::ServerConfig>(cfg_));
  auto backend = std::make_shared<PagedBackend>(ioc_.get_executor(), true);
  slot.backend = backend;
  EXPECT_EQ(fetch(slot, 3, std::chrono::milliseconds(500)), (std::vector<int>{5, 5, 5}));
  EXPECT_EQ(backend->requests, 3);  // three pages, asked once
  EXPECT_EQ(fills, 1);
  EXPECT_EQ(fetch(slot, 1, std::chrono::milliseconds(500)), (std::vector<int>{5}));
  EXPECT_EQ(backend->requests, 3);  // from the cache
  slot.forget_lists();
  EXPECT_EQ(fetch(slot, 1, std::chrono::milliseconds(500)), (std::vector<int>{5}));
  EXPECT_EQ(backend->requests, 6);
}

TEST_F(ServerSlotTest, AServerWithoutTheCapabilityIsNotAsked) {
  upstream::ServerSlot slot(std::make_shared<const config::ServerConfig>(cfg_));
  auto backend = std::make_shared<PagedBackend>(ioc_.get_executor(), false);
  slot.backend = backend;
  EXPECT_EQ(fetch(slot, 1, std::chrono::milliseconds(500)), (std::vector<int>{0}));
  EXPECT_EQ(backend->requests, 0);
}

TEST_F(ServerSlotTest, ASilentServerGivesNoListAndIsAskedAgainLater) {
  upstream::ServerSlot slot(std::make_shared<const config::ServerConfig>(cfg_));
  auto backend = std::make_shared<PagedBackend>(ioc_.get_executor(), true);
  backend->silent = true;
  slot.backend = backend;
  EXPECT_EQ(fetch(slot, 2, std::chrono::milliseconds(100)), (std::vector<int>{-1, -1}));
  EXPECT_EQ(backend->requests, 1);
  EXPECT_EQ(backend->cancelled, 1);  // the server hears the gateway gave up
  EXPECT_FALSE(slot.cache(ListKind::tools).items);
  backend->silent = false;
  EXPECT_EQ(fetch(slot, 1, std::chrono::milliseconds(500)), (std::vector<int>{5}));
}

TEST(ServerPool, RecordsEachServersLatestStateButNotAStopOnPurpose) {
  asio::io_context ioc;
  config::Config cfg;
  upstream::ServerPool pool(ioc.get_executor(), cfg);
  EXPECT_EQ(pool.status("a"), nullptr);
  pool.record("a", BackendState::restarting, "exit status 1");
  ASSERT_NE(pool.status("a"), nullptr);
  const auto since = pool.status("a")->since;
  pool.record("a", BackendState::restarting, "exit status 2");
  EXPECT_EQ(pool.status("a")->reason, "exit status 2");
  EXPECT_EQ(pool.status("a")->since, since);  // same state: the time it began stays
  pool.record("a", BackendState::stopped, "");
  EXPECT_EQ(pool.status("a")->state, BackendState::restarting);
  pool.record("a", BackendState::ready, "");
  EXPECT_EQ(pool.status("a")->state, BackendState::ready);
  EXPECT_GE(pool.status("a")->since, since);
}

TEST(ServerPool, MakesBackendsThroughAnInjectedFactory) {
  asio::io_context ioc;
  config::Config cfg;
  upstream::ServerPool pool(ioc.get_executor(), cfg);
  std::vector<std::string> made;
  pool.set_factory([&](const config::ServerConfig& s, upstream::ClientIdentity,
                       upstream::BackendListener&) -> upstream::BackendPtr {
    made.push_back(s.name);
    return std::make_shared<PagedBackend>(ioc.get_executor(), true);
  });
  struct : upstream::BackendListener {
    void on_backend_message(upstream::Backend&, json::object&&) override {}
    void on_backend_state(upstream::Backend&, BackendState) override {}
  } listener;
  EXPECT_NE(pool.make(server_named("x"), {}, listener), nullptr);
  EXPECT_EQ(made, (std::vector<std::string>{"x"}));
}

TEST(ServerPool, DisplayedUrlsHoldNoCredentialsOrQuery) {
  EXPECT_EQ(upstream::display_url("https://user:secret@example.com:8443/mcp?token=abc"),
            "https://example.com:8443/mcp");
  EXPECT_EQ(upstream::display_url("not a url"), "(invalid)");
}

}  // namespace
