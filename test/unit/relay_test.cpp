// The relay's method table, stages and routing, driven with fake servers: what reaches a
// server, and what the client gets back.
#include "relay/relay.hpp"
#include "ready_backend.hpp"

#include "access/principal.hpp"
#include "jsonrpc/message.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <map>

namespace {

using namespace mcpgw;
namespace json = boost::json;

/// A server that is ready at once, lists the tools `echo` and `drop_table`, and answers every
/// other request with its own name, the method and the params. It records those requests.
class FakeBackend final : public fakes::ReadyBackend {
 public:
  FakeBackend(asio::any_io_executor ex, std::string name, std::vector<json::object>& seen)
      : ReadyBackend(std::move(ex), std::move(name)), seen_(seen) {
    info_.capabilities["tools"] = json::object();
    info_.capabilities["prompts"] = json::object();
  }

  using upstream::Backend::send_request;
  upstream::CallPtr send_request(json::object&& request,
                                 std::vector<std::pair<std::string, std::string>>) override {
    auto call = std::make_shared<upstream::Call>(ex_);
    const std::string method(jsonrpc::method(request));
    json::object result;
    if (method == "tools/list") {
      json::array tools;
      for (const char* name : {"echo", "drop_table"}) {
        json::object tool;
        tool["name"] = name;
        tool["inputSchema"] = json::object{{"type", "object"}};
        tools.push_back(std::move(tool));
      }
      result["tools"] = std::move(tools);
    } else {
      seen_.push_back(request);
      result["server"] = name();
      result["method"] = method;
      if (const auto* p = request.if_contains("params")) {
        result["params"] = *p;
      }
    }
    call->response = jsonrpc::make_result(request.at("id"), std::move(result));
    call->done.set();
    return call;
  }

 private:
  std::vector<json::object>& seen_;
};

config::Config two_servers() {
  config::Diagnostics diag;
  auto cfg = config::parse(
      json::parse(R"({"mcpServers": {"a": {"command": "a"}, "b": {"command": "b"}}})"), "/",
      diag, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(cfg.has_value());
  return *cfg;
}

access::PrincipalPtr key(std::string name, std::vector<std::string> deny = {}) {
  auto p = std::make_shared<access::Principal>();
  p->name = std::move(name);
  p->grants.push_back(access::Grant{{}, {}, std::move(deny)});
  return p;
}

class RelayTest : public ::testing::Test {
 protected:
  RelayTest() {
    relay_.set_backend_factory([this](const config::ServerConfig& server, upstream::ClientIdentity,
                                      upstream::BackendListener&) {
      ++made_[server.name];
      return std::make_shared<FakeBackend>(ioc_.get_executor(), server.name, seen_[server.name]);
    });
    relay_.start();
  }
  ~RelayTest() override {
    asio::co_spawn(ioc_, relay_.stop(), asio::detached);
    ioc_.run_for(std::chrono::milliseconds(50));
  }

  /// Runs one request through the relay and returns the reply the client would get.
  json::object ask(const relay::SessionPtr& s, std::string_view method, json::object params = {},
                   json::value id = 1) {
    auto out = s->new_request_stream(false);
    bool done = false;
    asio::co_spawn(ioc_,
                   relay_.handle_request(s, jsonrpc::make_request(id, method, std::move(params)), out),
                   [&](std::exception_ptr) { done = true; });
    while (!done && ioc_.run_one_for(std::chrono::seconds(5)) > 0) {
    }
    EXPECT_TRUE(done) << method;
    const auto* reply = out->front();
    return reply ? json::parse(reply->data).as_object() : json::object();
  }

  /// An initialized session on /mcp (`server` empty) or /mcp/{server}.
  relay::SessionPtr session(access::PrincipalPtr who = nullptr, std::string server = {}) {
    std::vector<std::string> view = server.empty() ? std::vector<std::string>{"a", "b"}
                                                   : std::vector<std::string>{server};
    relay::SessionSpec spec;
    spec.view = std::move(view);
    spec.single_server = !server.empty();
    spec.endpoint = "/mcp";
    spec.principal = std::move(who);
    auto s = relay_.create_session(std::move(spec)).value();
    json::object params;
    params["protocolVersion"] = "2025-06-18";
    params["capabilities"] = json::object();
    EXPECT_TRUE(ask(s, "initialize", std::move(params)).contains("result"));
    return s;
  }

  static json::object args_named(std::string_view name) {
    json::object p;
    p["name"] = name;
    p["arguments"] = json::object();
    return p;
  }
  static std::int64_t error_code(const json::object& reply) {
    return reply.at("error").at("code").as_int64();
  }

  asio::io_context ioc_;
  config::Config cfg_ = two_servers();
  std::map<std::string, std::vector<json::object>> seen_;
  std::map<std::string, int> made_;  ///< backends made, by server
  relay::Relay relay_{ioc_.get_executor(), cfg_};
};

TEST_F(RelayTest, ACallGoesToItsServerUnderItsOwnNameAndComesBackWithTheClientsId) {
  auto s = session();
  auto reply = ask(s, "tools/call", args_named("b__echo"), "client-7");
  EXPECT_EQ(reply.at("id"), "client-7");
  EXPECT_EQ(reply.at("result").at("server"), "b");
  ASSERT_EQ(seen_["b"].size(), 1u);
  EXPECT_EQ(seen_["b"][0].at("params").at("name"), "echo");
  EXPECT_TRUE(seen_["a"].empty());
}

TEST_F(RelayTest, ListsArePrefixedAndLeaveOutWhatTheKeyMayNotUse) {
  auto s = session(key("narrow", {"*__drop_table"}));
  auto tools = ask(s, "tools/list").at("result").at("tools").as_array();
  std::vector<std::string> names;
  for (const auto& t : tools) {
    names.emplace_back(t.at("name").as_string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a__echo", "b__echo"}));
}

TEST_F(RelayTest, ADeniedToolLooksUnknownAndNeverReachesItsServer) {
  auto s = session(key("narrow", {"*__drop_table"}));
  auto denied = ask(s, "tools/call", args_named("a__drop_table"));
  auto missing = ask(s, "tools/call", args_named("a__no_such_tool"));
  EXPECT_EQ(error_code(denied), -32602);
  EXPECT_EQ(denied.at("error").at("message"), "Unknown tool: a__drop_table");
  EXPECT_EQ(missing.at("error").at("message"), "Unknown tool: a__no_such_tool");
  EXPECT_TRUE(seen_["a"].empty());
}

TEST_F(RelayTest, UnknownMethodsOnlyOnAPerServerEndpointAndOnlyForAKeyThatMayUseEveryTool) {
  EXPECT_EQ(error_code(ask(session(), "tasks/list")), -32601) << "aggregate: whose task?";
  EXPECT_EQ(error_code(ask(session(key("narrow", {"*__drop_table"}), "a"), "tasks/list")), -32601);
  EXPECT_TRUE(seen_["a"].empty());

  EXPECT_EQ(ask(session(key("full"), "a"), "tasks/list").at("result").at("method"), "tasks/list");
  EXPECT_EQ(ask(session(nullptr, "a"), "tasks/get").at("result").at("method"), "tasks/get");
  EXPECT_EQ(seen_["a"].size(), 2u);
  // server/discover is the gateway's own (2026-07-28), never passed to the server.
  const auto discover = ask(session(nullptr, "a"), "server/discover");
  EXPECT_EQ(discover.at("result").at("supportedVersions").as_array().front(), "2026-07-28");
  EXPECT_EQ(seen_["a"].size(), 2u);
}

TEST_F(RelayTest, CompletionIsRoutedByItsReference) {
  auto s = session();
  json::object params;
  params["ref"] = json::object{{"type", "ref/prompt"}, {"name", "b__greet"}};
  params["argument"] = json::object{{"name", "who"}, {"value", "x"}};
  EXPECT_EQ(ask(s, "completion/complete", params).at("result").at("server"), "b");
  ASSERT_EQ(seen_["b"].size(), 1u);
  EXPECT_EQ(seen_["b"][0].at("params").at("ref").at("name"), "greet");

  params["ref"] = json::object{{"type", "ref/prompt"}, {"name", "nowhere"}};
  EXPECT_EQ(error_code(ask(s, "completion/complete", params)), -32602);
  params.erase("ref");
  EXPECT_EQ(ask(s, "completion/complete", params).at("error").at("message"),
            "completion/complete needs ref");
}

/// The tools a session lists, by exposed name.
std::vector<std::string> tool_names(const json::object& reply) {
  std::vector<std::string> names;
  for (const auto& t : reply.at("result").at("tools").as_array()) {
    names.emplace_back(t.at("name").as_string());
  }
  return names;
}

TEST_F(RelayTest, AReloadedServerJoinsTheAggregateViewsOnlyAndTheirClientsHearIt) {
  relay::SessionSpec narrowed_spec;
  narrowed_spec.view = {"a"};
  narrowed_spec.endpoint = "/mcp";
  auto narrowed = relay_.create_session(std::move(narrowed_spec)).value();
  json::object init{{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()}};
  ask(narrowed, "initialize", init);
  relay::SessionSpec whole_spec;
  whole_spec.view = {"a", "b"};
  whole_spec.whole_view = true;
  whole_spec.endpoint = "/mcp";
  auto aggregate = relay_.create_session(std::move(whole_spec)).value();
  ask(aggregate, "initialize", init);

  const auto previous = cfg_.servers;
  config::ServerConfig c = cfg_.servers.front();
  c.name = "c";
  cfg_.servers.push_back(c);
  const auto changes = relay_.reconfigure(previous);
  EXPECT_EQ(changes.added, (std::vector<std::string>{"c"}));
  EXPECT_TRUE(changes.removed.empty() && changes.restarted.empty() && changes.relabelled.empty());
  EXPECT_EQ(made_["c"], 1) << "a shared server starts at once";
  EXPECT_EQ(made_["a"], 1) << "unchanged servers keep their backend";

  EXPECT_EQ(tool_names(ask(aggregate, "tools/list")),
            (std::vector<std::string>{"a__echo", "a__drop_table", "b__echo", "b__drop_table",
                                      "c__echo", "c__drop_table"}));
  EXPECT_EQ(ask(aggregate, "tools/call", args_named("c__echo")).at("result").at("server"), "c");
  ASSERT_GE(aggregate->standalone()->size(), 1u);
  EXPECT_NE(aggregate->standalone()->front()->data.find("notifications/tools/list_changed"),
            std::string::npos);
  EXPECT_EQ(tool_names(ask(narrowed, "tools/list")),
            (std::vector<std::string>{"a__echo", "a__drop_table"}));
  EXPECT_EQ(narrowed->standalone()->size(), 0u) << "nothing it sees changed";
  EXPECT_EQ(error_code(ask(narrowed, "tools/call", args_named("c__echo"))), -32602);
}

TEST_F(RelayTest, AReloadRemovesRestartsAndRelabelsServers) {
  auto s = session();
  const auto previous = cfg_.servers;
  cfg_.servers.erase(cfg_.servers.begin());      // a: removed
  cfg_.servers.front().args = {"--changed"};      // b: restarted
  EXPECT_EQ(relay_.reconfigure(previous).removed, (std::vector<std::string>{"a"}));
  EXPECT_EQ(made_["b"], 2);
  EXPECT_EQ(error_code(ask(s, "tools/call", args_named("a__echo"))), -32602) << "a is gone";
  EXPECT_EQ(ask(s, "tools/call", args_named("b__echo")).at("result").at("server"), "b");

  const auto before_labels = cfg_.servers;
  cfg_.servers.front().options.trust.public_sink = config::Tri::yes;
  const auto changes = relay_.reconfigure(before_labels);
  EXPECT_EQ(changes.relabelled, (std::vector<std::string>{"b"}));
  EXPECT_EQ(made_["b"], 2) << "new labels alone keep the backend";
  EXPECT_TRUE(relay_.reconfigure(cfg_.servers).relabelled.empty()) << "nothing changed";
}

TEST(Exchange, OutcomeFollowsTheReplyUnlessAStageSetIt) {
  auto make = [](std::string reply) {
    relay::Exchange ex(nullptr, jsonrpc::make_request(1, "tools/call", {}), nullptr);
    ex.reply = json::parse(reply).as_object();
    return ex;
  };
  auto ok = make(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})");
  ok.classify();
  EXPECT_EQ(ok.outcome, relay::Outcome::ok);
  auto tool_error = make(R"({"jsonrpc":"2.0","id":1,"result":{"isError":true}})");
  tool_error.classify();
  EXPECT_EQ(relay::to_string(tool_error.outcome), "error");
  EXPECT_EQ(tool_error.outcome, relay::Outcome::tool_error);
  auto error = make(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"timed out"}})");
  error.classify();
  EXPECT_EQ(error.outcome, relay::Outcome::error) << "the words in a message decide nothing";
  auto timeout = make(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"x"}})");
  timeout.outcome = relay::Outcome::timeout;
  timeout.classify();
  EXPECT_EQ(timeout.outcome, relay::Outcome::timeout);
}

}  // namespace
