// A server slot's list cache: one fetch of every page, shared by everyone who asks meanwhile.
#include "upstream/server_slot.hpp"

#include "mcp/modern.hpp"

#include "common/error.hpp"
#include "jsonrpc/message.hpp"

#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {

constexpr std::size_t kMaxListPages = 100;

constexpr ListInfo kLists[] = {
    {"tools/list", "tools", "tools", "notifications/tools/list_changed"},
    {"prompts/list", "prompts", "prompts", "notifications/prompts/list_changed"},
    {"resources/list", "resources", "resources", "notifications/resources/list_changed"},
    {"resources/templates/list", "resourceTemplates", "resources",
     "notifications/resources/list_changed"},
};

/// The cursor of the next page, or null at the last.
json::value next_cursor(const json::object& result) {
  const auto* next = result.if_contains("nextCursor");
  if (next == nullptr || next->is_null() || (next->is_string() && next->get_string().empty())) {
    return nullptr;
  }
  return *next;
}

/// Every page of one list. Null when a page did not come in time or the call failed; an
/// error reply counts as an empty rest (the server has no such list after all).
asio::awaitable<std::shared_ptr<const json::array>> fetch_pages(Backend& backend,
                                                                const ListInfo& list,
                                                                Clock::time_point deadline) {
  json::array all;
  json::value cursor;
  for (std::size_t page = 0; page < kMaxListPages; ++page) {
    json::object params;
    if (!cursor.is_null()) {
      params["cursor"] = cursor;
    }
    auto call = backend.send_request(jsonrpc::make_request(0, list.method, std::move(params)));
    if (!co_await call->done.wait_until(deadline)) {
      backend.cancel(*call, make_error_code(Errc::upstream_timeout), "list timed out");
      co_return nullptr;
    }
    if (call->ec || !call->response) {
      spdlog::debug("[{}] {} call failed: {} {}", backend.name(), list.method,
                    call->ec.message(), call->detail);
      co_return nullptr;
    }
    const auto* result = call->response->if_contains("result");
    if (result == nullptr || !result->is_object()) {
      spdlog::debug("[{}] {} failed: {}", backend.name(), list.method,
                    json::serialize(*call->response));
      break;
    }
    const auto& r = result->get_object();
    if (const auto* arr = r.if_contains(list.key); arr && arr->is_array()) {
      for (const auto& item : arr->get_array()) {
        all.push_back(item);
      }
    }
    cursor = next_cursor(r);
    if (cursor.is_null()) {
      break;
    }
  }
  co_return std::make_shared<const json::array>(std::move(all));
}

/// Each tool of `tools` by name; the first of a name wins, as a scan would find it.
std::unordered_map<std::string_view, const json::object*> index_tools(const json::array& tools) {
  std::unordered_map<std::string_view, const json::object*> by_name;
  by_name.reserve(tools.size());
  for (const auto& t : tools) {
    const auto* o = t.if_object();
    const auto* name = o != nullptr ? o->if_contains("name") : nullptr;
    if (name != nullptr && name->is_string()) {
      by_name.emplace(std::string_view(name->get_string()), o);
    }
  }
  return by_name;
}

}  // namespace

const json::object* find_tool(const std::shared_ptr<const json::array>& tools,
                              const ListCache& cached, std::string_view name) {
  if (!tools) {
    return nullptr;
  }
  if (cached.items == tools) {
    auto it = cached.by_name.find(name);
    return it == cached.by_name.end() ? nullptr : it->second;
  }
  for (const auto& t : *tools) {
    const auto* o = t.if_object();
    const auto* n = o != nullptr ? o->if_contains("name") : nullptr;
    if (n != nullptr && n->is_string() && std::string_view(n->get_string()) == name) {
      return o;
    }
  }
  return nullptr;
}

const ListInfo& info(ListKind kind) noexcept { return kLists[static_cast<int>(kind)]; }

bool has_capability(const Backend& b, std::string_view capability) {
  return b.state() == BackendState::ready && b.info().capabilities.contains(capability);
}

void ServerSlot::forget_lists() noexcept {
  for (auto& c : lists) {
    c = ListCache{};
  }
}

asio::awaitable<std::shared_ptr<const json::array>> ServerSlot::fetch_list(
    asio::any_io_executor ex, ListKind kind, ListDeadlines limits, bool& filled) {
  filled = false;
  ListCache& c = cache(kind);
  if (c.items) {
    co_return c.items;
  }
  const auto deadline = Clock::now() + limits.call;
  if (c.fetching) {
    auto ev = c.fetching;  // someone else is already asking: share their answer
    co_await ev->wait_until(deadline);
    co_return cache(kind).items;
  }
  auto ev = std::make_shared<Event>(ex);
  c.fetching = ev;
  auto b = backend;  // keeps the backend alive across the awaits
  std::shared_ptr<const json::array> answer;
  if (co_await b->wait_ready(std::min(deadline, Clock::now() + limits.startup))) {
    if (!has_capability(*b, info(kind).capability)) {
      answer = std::make_shared<const json::array>();
    } else {
      answer = co_await fetch_pages(*b, info(kind), deadline);
    }
  }
  ListCache& now = cache(kind);  // a restart may have reset the cache meanwhile
  if (now.fetching == ev) {
    now.fetching.reset();
    if (answer) {
      now.items = answer;
      now.header_params = kind == ListKind::tools && mcp::has_header_params(*answer);
      if (kind == ListKind::tools) {
        now.by_name = index_tools(*answer);
      }
      filled = true;
    }
  }
  ev->set();
  co_return answer;
}

}  // namespace mcpgw::upstream
