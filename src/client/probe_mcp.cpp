// What both transports do the same way once a message can be carried: the initialize
// handshake and the tools/list pages.
#include "client/probe_steps.hpp"

#include <fmt/format.h>

namespace mcpgw::client::probe_detail {

namespace {

constexpr int kMaxPages = 20;

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

/// "tools (listChanged), resources (subscribe), prompts".
std::string capability_list(const json::object& caps) {
  std::string out;
  for (const auto& [name, value] : caps) {
    std::string flags;
    if (const auto* o = value.if_object()) {
      for (const auto& [flag, on] : *o) {
        if (on.is_bool() && on.get_bool()) {
          flags += fmt::format("{}{}", flags.empty() ? "" : ", ", std::string_view(flag));
        }
      }
    }
    out += fmt::format("{}{}{}", out.empty() ? "" : ", ", std::string_view(name),
                       flags.empty() ? std::string() : fmt::format(" ({})", flags));
  }
  return out.empty() ? "none" : out;
}

/// The first line of a tool's description.
std::string first_line(std::string_view text) {
  const auto nl = text.find('\n');
  return excerpt(text.substr(0, nl), 200);
}

}  // namespace

ToolSummary tool_summary(const json::object& tool) {
  return {str(tool, "name"), first_line(str(tool, "description"))};
}

json::object client_info() {
  json::object info;
  info["name"] = "mcpgw-probe";
  info["version"] = MCPGW_VERSION;
  return info;
}

json::object initialize_request(std::int64_t id, std::string_view version) {
  json::object params;
  params["protocolVersion"] = version;
  params["capabilities"] = json::object();
  params["clientInfo"] = client_info();
  return jsonrpc::make_request(id, mcp::method::kInitialize, std::move(params));
}

bool read_handshake(const json::object& response, Handshake& out, std::string& why) {
  const auto* r = response.if_contains("result");
  const auto* result = r != nullptr ? r->if_object() : nullptr;
  if (result == nullptr) {
    why = fmt::format("initialize failed: {}", rpc_error_text(response));
    return false;
  }
  out.version = str(*result, "protocolVersion");
  if (out.version.empty()) {
    why = "the initialize result has no protocolVersion";
    return false;
  }
  const auto* si = result->if_contains("serverInfo");
  if (const auto* info = si != nullptr ? si->if_object() : nullptr) {
    out.server = fmt::format("{} {}", str(*info, "name"), str(*info, "version"));
  }
  const auto* caps = result->if_contains("capabilities");
  out.capabilities = caps != nullptr && caps->is_object() ? capability_list(caps->get_object())
                                                          : "none";
  return true;
}

void keep_handshake(Context& ctx, const Handshake& h, std::string_view transport,
                    const upstream::Url& url) {
  auto& f = ctx.found;
  if (!f.transport.empty()) {
    return;
  }
  f.transport = transport;
  f.working_url = url.origin() + url.target;
  f.protocol_version = h.version;
  const auto space = h.server.find(' ');
  f.server_name = h.server.substr(0, space);
  f.server_version = space == std::string::npos ? "" : h.server.substr(space + 1);
}

asio::awaitable<void> list_tools(Context& ctx, Channel& ch, std::string_view prefix,
                                 std::string_view label, const upstream::Url& url) {
  const std::string id = fmt::format("{}.tools", prefix);
  const std::string what = fmt::format("{}: tools/list", label);
  std::vector<ToolSummary> tools;
  std::string cursor;
  int pages = 0;
  for (; pages < kMaxPages; ++pages) {
    json::object params;
    if (!cursor.empty()) {
      params["cursor"] = cursor;
    }
    const Reply r = co_await ch.call(jsonrpc::make_request(ctx.http.next_id(), mcp::method::kToolsList, params));
    if (!r.message) {
      ctx.add(id, what, Mark::fail, ctx.why(r), url);
      co_return;
    }
    const auto* res = r.message->if_contains("result");
    const auto* result = res != nullptr ? res->if_object() : nullptr;
    if (result == nullptr) {
      ctx.add(id, what, Mark::fail, fmt::format("JSON-RPC error {}", rpc_error_text(*r.message)),
              url);
      co_return;
    }
    if (const auto* list = result->if_contains("tools"); list != nullptr && list->is_array()) {
      for (const auto& t : list->get_array()) {
        if (const auto* o = t.if_object()) {
          tools.push_back(tool_summary(*o));
        }
      }
    }
    cursor = str(*result, "nextCursor");
    if (cursor.empty()) {
      ++pages;
      break;
    }
  }
  std::string detail = fmt::format("{} tool{}", tools.size(), tools.size() == 1 ? "" : "s");
  if (pages > 1) {
    detail += fmt::format(" in {} pages (nextCursor followed)", pages);
  }
  if (!cursor.empty()) {
    detail += fmt::format("; stopped after {} pages, more remain", kMaxPages);
  }
  ctx.add(id, what, Mark::ok, std::move(detail), url);
  if (ctx.found.tools.empty()) {
    ctx.found.tools = std::move(tools);
  }
}

}  // namespace mcpgw::client::probe_detail
