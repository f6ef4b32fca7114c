// Handlers the gateway answers itself: initialize, and the aggregated lists (fetched from
// each server, cached until it says they changed).
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "common/error.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

using upstream::BackendState;

namespace {

/// An aggregate endpoint's capabilities: what any of its servers offers (tools and logging
/// always), with their instructions under their names.
json::object aggregate_capabilities(const std::vector<SlotPtr>& slots,
                                    std::string& instructions) {
  bool prompts = false;
  bool resources = false;
  bool subscribe = false;
  bool completions = false;
  for (const SlotPtr& slot : slots) {
    const auto& b = *slot->backend;
    prompts = prompts || has_capability(b, "prompts");
    completions = completions || has_capability(b, "completions");
    if (has_capability(b, "resources")) {
      resources = true;
      const auto& r = b.info().capabilities.at("resources");
      if (r.is_object()) {
        if (const auto* sub = r.get_object().if_contains("subscribe"); sub && sub->is_bool()) {
          subscribe = subscribe || sub->get_bool();
        }
      }
    }
    if (b.state() == BackendState::ready && !b.info().instructions.empty()) {
      instructions += fmt::format("{}## {}\n{}", instructions.empty() ? "" : "\n\n",
                                  slot->cfg->name, b.info().instructions);
    }
  }
  json::object caps;
  json::object changed;
  changed["listChanged"] = true;
  caps["tools"] = changed;
  if (prompts) {
    caps["prompts"] = changed;
  }
  if (resources) {
    json::object r = changed;
    r["subscribe"] = subscribe;
    caps["resources"] = std::move(r);
  }
  if (completions) {
    caps["completions"] = json::object();
  }
  caps["logging"] = json::object();
  return caps;
}

/// The initialize result: a per-server endpoint is its server (capabilities, serverInfo,
/// instructions) once it is ready; otherwise the gateway, offering what its servers offer.
json::object initialize_result(const Session& s, const std::vector<SlotPtr>& slots) {
  json::object result;
  result["protocolVersion"] = s.protocol_version();
  json::object caps;
  json::object server_info;
  std::string instructions;
  if (s.single_server && slots.size() == 1 && slots[0]->backend->state() == BackendState::ready) {
    const auto& info = slots[0]->backend->info();
    caps = info.capabilities;
    caps["logging"] = json::object();  // setLevel is always answered
    server_info = info.server_info;
    instructions = info.instructions;
  } else {
    caps = aggregate_capabilities(slots, instructions);
    if (s.single_server) {
      server_info["name"] = s.view.front();
    } else {
      server_info["name"] = "mcpgw";
      server_info["title"] = "mcpgw MCP gateway";
    }
    server_info["version"] = MCPGW_VERSION;
  }
  result["capabilities"] = std::move(caps);
  result["serverInfo"] = std::move(server_info);
  if (!instructions.empty()) {
    result["instructions"] = instructions;
  }
  return result;
}

}  // namespace

asio::awaitable<void> Relay::initialize(Exchange& ex) {
  const SessionPtr& s = ex.session;
  json::object& params = params_of(ex.request);
  const std::string requested(string_at(params, "protocolVersion"));
  const auto* caps = params.if_contains("capabilities");
  const auto* info = params.if_contains("clientInfo");
  s->negotiate(std::string(mcp::negotiate(requested)),
               caps && caps->is_object() ? caps->get_object() : json::object(),
               info && info->is_object() ? info->get_object() : json::object());

  const auto slots = co_await ready_view(s);
  ex.reply = jsonrpc::make_result(ex.id, initialize_result(*s, slots));
  s->mark_initialized();
  spdlog::info("session {}: initialize from {} ({}), protocol {}", s->id,
               string_at(s->client_info(), "name"), string_at(s->client_info(), "version"),
               s->protocol_version());
}

asio::awaitable<std::vector<SlotPtr>> Relay::ready_view(const SessionPtr& s) {
  // Wait (bounded) for the servers this session sees, so the capabilities are known.
  const auto deadline = Clock::now() + cfg_.gateway.timeouts.list;
  std::vector<SlotPtr> slots;
  for (const auto& name : s->view) {
    if (BackendSlot* slot = slot_for(*s, name); slot && slot->backend) {
      slots.push_back(slot->shared_from_this());
    }
  }
  for (const SlotPtr& slot : slots) {
    if (!slot->backend->down()) {
      co_await slot->backend->wait_ready(deadline);
    }
  }
  co_return slots;
}

void Relay::adopt_modern(Session& s, json::object client_info) {
  s.negotiate(std::string(mcp::kModernVersion), json::object(), std::move(client_info));
  s.log_rank = mcp::log_level_rank("emergency") + 1;
  s.mark_initialized();
  spdlog::info("session {}: stateless requests from {} ({}), protocol {}", s.id,
               string_at(s.client_info(), "name"), string_at(s.client_info(), "version"),
               s.protocol_version());
}

asio::awaitable<void> Relay::discover(Exchange& ex) {
  const auto slots = co_await ready_view(ex.session);
  json::object result = initialize_result(*ex.session, slots);
  result.erase("protocolVersion");
  json::array versions;
  for (auto v : mcp::kDiscoverVersions) {
    versions.emplace_back(v);
  }
  result["supportedVersions"] = std::move(versions);
  json::object meta;
  meta[mcp::meta::kServerInfo] = std::move(result["serverInfo"]);
  result.erase("serverInfo");
  result["_meta"] = std::move(meta);
  result["resultType"] = "complete";
  // What the gateway offers changes with its servers and depends on who asks.
  result["ttlMs"] = 0;
  result["cacheScope"] = "private";
  ex.reply = jsonrpc::make_result(ex.id, std::move(result));
}

asio::awaitable<void> Relay::list(Exchange& ex, ListKind kind) {
  Session& s = *ex.session;
  const std::vector<std::string> view = s.view;  // a reload may change it meanwhile
  std::vector<SlotPtr> slots;
  const auto parts = co_await gather_lists(ex.session, view, kind, slots);
  json::array items;
  std::vector<std::size_t> left_out;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (parts[i]) {
      add_list_items(s, kind, view[i], parts[i], items);
    } else if (slots[i] != nullptr &&
               (slots[i]->backend->state() != BackendState::ready ||
                has_capability(*slots[i]->backend, info(kind).capability))) {
      left_out.push_back(i);
      slots[i]->cache(kind).served_partial = true;
    }
  }
  report_left_out(s, kind, view, slots, left_out);
  json::object result;
  result[info(kind).key] = std::move(items);
  ex.reply = jsonrpc::make_result(ex.id, std::move(result));
}

asio::awaitable<std::vector<std::shared_ptr<const json::array>>> Relay::gather_lists(
    SessionPtr s, const std::vector<std::string>& view, ListKind kind,
    std::vector<SlotPtr>& slots) {
  const auto deadline = Clock::now() + cfg_.gateway.timeouts.list;
  struct Gather {
    explicit Gather(asio::any_io_executor ex, std::size_t n) : done(std::move(ex)), results(n) {}
    // Starts at 1 for the loop below: co_spawn may run a fetch to completion inline, and the
    // gather must not look finished before every fetch was started.
    std::size_t remaining = 1;
    Event done;
    std::vector<std::shared_ptr<const json::array>> results;
  };
  auto g = std::make_shared<Gather>(ex_, view.size());
  slots.assign(view.size(), nullptr);
  for (std::size_t i = 0; i < view.size(); ++i) {
    BackendSlot* slot = slot_for(*s, view[i]);
    if (slot == nullptr || !slot->backend) {
      continue;
    }
    slots[i] = slot->shared_from_this();
    if (auto cached = slot->cache(kind).items) {
      g->results[i] = std::move(cached);
      continue;
    }
    if (slot->backend->down()) {
      continue;  // down: don't hold the list for it
    }
    ++g->remaining;
    asio::co_spawn(ex_, [this, g, i, keep = slots[i], kind, s]() -> asio::awaitable<void> {
      g->results[i] = co_await fetch_list(*keep, kind, s);
      if (--g->remaining == 0) {
        g->done.set();
      }
    }, asio::detached);
  }
  if (--g->remaining > 0) {
    co_await g->done.wait_until(deadline);
  }
  co_return g->results;  // a copy: fetches that missed the deadline may still write theirs
}

void Relay::add_list_items(Session& s, ListKind kind, const std::string& server,
                           const std::shared_ptr<const json::array>& part, json::array& items) {
  gate::Chain* chain = nullptr;
  if (gate_ != nullptr && kind == ListKind::tools) {
    chain = &chain_of(s);
    chain->tools_listed(server, part);
  }
  for (const auto& item : *part) {
    if (!item.is_object()) {
      continue;
    }
    const std::string_view name = string_at(item.get_object(), "name");
    if (kind == ListKind::tools && s.principal && !tool_allowed(s, server, name)) {
      continue;  // hidden: the caller may not use it
    }
    if (chain != nullptr && !chain->tool_visible(server, name)) {
      continue;  // hidden: quarantined by the gate
    }
    json::object copy = item.get_object();
    if (s.single_server) {
      items.push_back(std::move(copy));
      continue;
    }
    if (kind == ListKind::tools || kind == ListKind::prompts) {
      bool shortened = false;
      copy["name"] = naming_.expose(server, name, &shortened);
      if (shortened && warned_shortened_.insert(std::string(copy["name"].as_string())).second) {
        spdlog::warn("[{}] {} name '{}' is longer than 64 characters with its prefix; "
                     "exposed as '{}'", server, info(kind).key, name, copy["name"].as_string());
      }
    } else if (kind == ListKind::resources) {
      copy["uri"] = mcp::Naming::expose_uri(server, string_at(copy, "uri"));
    } else {
      copy["uriTemplate"] = mcp::Naming::expose_uri(server, string_at(copy, "uriTemplate"));
    }
    items.push_back(std::move(copy));
  }
}

void Relay::report_left_out(Session& s, ListKind kind, const std::vector<std::string>& view,
                            const std::vector<SlotPtr>& slots,
                            const std::vector<std::size_t>& left_out) {
  if (left_out.empty()) {
    return;
  }
  std::string names;
  for (std::size_t i : left_out) {
    names += names.empty() ? view[i] : ", " + view[i];
  }
  spdlog::warn("session {}: {} answered without {} (down, or not ready within {} ms)", s.id,
               info(kind).method, names, cfg_.gateway.timeouts.list.count());
  // The client hears it too, as a logging notification: its list is short, and why.
  if (s.log_rank >= 0 && s.log_rank > mcp::log_level_rank("warning")) {
    return;
  }
  for (std::size_t i : left_out) {
    const auto& b = *slots[i]->backend;
    json::object params;
    params["level"] = "warning";
    params["logger"] = "mcpgw";
    params["data"] = fmt::format("server '{}' is {}{}{}: its {} are left out of this list",
                                 view[i], b.down() ? "down" : "not ready",
                                 b.last_error().empty() ? "" : ": ", b.last_error(),
                                 info(kind).key);
    deliver(s, nullptr, jsonrpc::make_notification(mcp::method::kMessage, std::move(params)));
  }
}

asio::awaitable<std::shared_ptr<const json::array>> Relay::fetch_list(
    BackendSlot& slot, ListKind kind, [[maybe_unused]] std::shared_ptr<Session> keep) {
  if (slot.backend && slot.backend->waits_for_user()) {
    slot.backend->retry_now();  // the caller may have set the value it lacked since
  }
  bool filled = false;
  auto items = co_await slot.fetch_list(
      ex_, kind, {cfg_.gateway.timeouts.call, cfg_.gateway.timeouts.startup}, filled);
  if (filled && slot.cache(kind).served_partial) {
    // A list went out without this server: now that it answered, tell those clients.
    slot.cache(kind).served_partial = false;
    notify_sessions(slot, info(kind).changed);
  }
  co_return items;
}

}  // namespace mcpgw::relay
