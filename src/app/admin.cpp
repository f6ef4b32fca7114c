// `mcpgw approvals …` and `mcpgw tools …`: clients of the running gateway's admin API.
#include "app/serve.hpp"
#include "gate/chain.hpp"
#include "upstream/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <ctime>

namespace mcpgw::app {

namespace {

namespace json = boost::json;
using upstream::http::verb;

struct Reply {
  unsigned status = 0;
  std::string body, error;
};

Reply call(const upstream::Url& base, verb method, const std::string& path,
           const std::string& token, std::string body) {
  asio::io_context io;
  Reply out;
  auto client = std::make_shared<upstream::HttpClient>(io.get_executor(), base,
                                                       upstream::TlsSettings{},
                                                       std::chrono::seconds(5), "admin");
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    upstream::HttpRequest req;
    req.method = method;
    std::string prefix = base.target == "/" ? "" : base.target;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    req.target = prefix + path;
    req.headers.set(upstream::http::field::authorization, "Bearer " + token);
    req.headers.set(upstream::http::field::accept, "application/json");
    if (!body.empty()) {
      req.headers.set(upstream::http::field::content_type, "application/json");
      req.body = std::move(body);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    boost::system::error_code ec;
    bool connect_failed = false;
    auto resp = co_await client->send(req, deadline, ec, out.error, connect_failed);
    if (!resp) {
      co_return;
    }
    out.status = resp->status();
    const bool read = co_await resp->read_all(out.body, 4 << 20, deadline, ec);
    if (!read) {
      out.error = ec ? ec.message() : "reply too large";
    }
  }, asio::detached);
  io.run();
  return out;
}

std::string when(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

/// A call to the admin API.
struct Request {
  verb method = verb::get;
  std::string path, body;
};

/// The admin API call that carries out `a`'s command and action.
Request request_for(const AdminArgs& a) {
  Request r;
  if (a.command == "reload") {
    r.method = verb::post;
    r.path = "/admin/reload";
  } else if (a.command == "approvals") {
    if (a.action == "list") {
      r.path = "/admin/approvals";
    } else {
      r.method = verb::post;
      r.path = "/admin/approvals/" + a.id;
      r.body = fmt::format("{{\"decision\":\"{}\"}}", a.action == "approve" ? "approve" : "deny");
    }
  } else {
    if (a.action == "list") {
      r.path = "/admin/tools";
    } else {
      r.method = verb::post;
      r.path = "/admin/tools/approve";
      json::object o;
      o["server"] = a.server;
      o["tool"] = a.tool;
      r.body = json::serialize(o);
    }
  }
  return r;
}

/// Prints one held call of `approvals list`.
void print_approval(const json::object& i) {
  const auto* created = i.if_contains("created");
  fmt::print("{}  {}  {}  by {}  scope {}\n    why: {}\n", str(i, "id"),
             created != nullptr && created->is_int64() ? when(created->get_int64()) : "",
             str(i, "target"), str(i, "principal"), str(i, "scope"), str(i, "reason"));
  if (const std::string args = str(i, "arguments"); !args.empty()) {
    fmt::print("    arguments: {}\n", args);
  }
}

/// Prints one tool of `tools list`.
void print_tool(const json::object& i) {
  fmt::print("{:<12} {}/{}", str(i, "status"), str(i, "server"), str(i, "tool"));
  if (const std::string reason = str(i, "reason"); !reason.empty()) {
    fmt::print("  ({})", reason);
  }
  fmt::print("\n");
}

/// Prints the list in the answer `o` to `approvals list` or `tools list`.
void print_list(const AdminArgs& a, const json::object& o) {
  const char* key = a.command == "approvals" ? "approvals" : "tools";
  const auto* items = o.if_contains(key);
  if (items == nullptr || !items->is_array() || items->get_array().empty()) {
    fmt::print("{}\n", a.command == "approvals" ? "no call waits for approval"
                                                : "no tools are pinned yet");
    return;
  }
  for (const auto& item : items->get_array()) {
    const auto* i = item.if_object();
    if (i == nullptr) continue;
    if (a.command == "approvals") {
      print_approval(*i);
    } else {
      print_tool(*i);
    }
  }
}

/// Prints the answer `o` to `reload`; returns the exit code.
int print_reload(unsigned status, const json::object& o) {
  if (status != 200) {
    fmt::print(stderr, "error: HTTP {}: reload refused, the gateway keeps its configuration:\n{}\n",
               status, str(o, "error"));
    return 1;
  }
  fmt::print("reloaded\n");
  if (const auto* servers = o.if_contains("servers"); servers && servers->is_object()) {
    for (const auto& [what, names] : servers->get_object()) {
      if (names.is_array() && !names.get_array().empty()) {
        fmt::print("  {}: {}\n", std::string_view(what), json::serialize(names));
      }
    }
  }
  if (const auto* kept = o.if_contains("needsRestart"); kept && kept->is_array() &&
                                                        !kept->get_array().empty()) {
    fmt::print("  needs a restart (still the running value): {}\n", json::serialize(*kept));
  }
  return 0;
}

}  // namespace

int admin_command(const AdminArgs& a) {
  const std::string token = gate::read_admin_token(a.token_env, a.token_file);
  if (token.empty()) {
    fmt::print(stderr, "error: no admin token: set {} or pass --token-file\n", a.token_env);
    return 2;
  }
  upstream::Url base;
  std::string why;
  if (!upstream::parse_url(a.url, base, why)) {
    fmt::print(stderr, "error: --url: {}\n", why);
    return 2;
  }

  Request req = request_for(a);
  const Reply r = call(base, req.method, req.path, token, std::move(req.body));
  if (r.status == 0) {
    fmt::print(stderr, "error: {}: {}\n", base.display(), r.error);
    return 1;
  }
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  const json::object* o = !ec ? v.if_object() : nullptr;
  if (a.command == "reload" && o != nullptr && !a.json) {
    return print_reload(r.status, *o);
  }
  if (r.status != 200) {
    const std::string msg = o != nullptr ? str(*o, "error") : r.body;
    fmt::print(stderr, "error: HTTP {}: {}\n", r.status, msg);
    return r.status == 404 ? 3 : 1;
  }
  if (a.json || o == nullptr) {
    fmt::print("{}\n", r.body);
    return 0;
  }
  if (a.action == "approve" || a.action == "deny") {
    if (a.command == "approvals") {
      fmt::print("{} {}\n", a.action == "approve" ? "approved" : "denied", a.id);
    } else {
      fmt::print("approved {}/{}: its new definition is pinned\n", a.server, a.tool);
    }
    return 0;
  }
  print_list(a, *o);
  return 0;
}

}  // namespace mcpgw::app
