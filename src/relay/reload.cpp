// Reload: the servers of a changed configuration take over from the previous ones without
// closing a session. A server that is gone, or whose command, URL, headers or options changed,
// drains (its calls in flight finish, up to timeouts.drainMs) and stops; new and changed
// servers start; a server whose trust labels alone changed keeps its backend. Every session
// whose servers changed is told that its lists changed, and the aggregate endpoint's sessions
// see the new servers their principal may use.
#include "relay/relay.hpp"

#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <map>

namespace mcpgw::relay {

namespace {

/// Whether `a` and `b` differ in their trust labels alone.
bool only_labels_differ(const config::ServerConfig& a, const config::ServerConfig& b) {
  config::ServerConfig relabelled = a;
  relabelled.options.trust = b.options.trust;
  relabelled.options.tool_trust = b.options.tool_trust;
  return relabelled == b;
}

}  // namespace

Relay::ServerChanges Relay::reconfigure(const std::vector<config::ServerConfig>& previous) {
  ServerChanges changes = diff_servers(previous);
  // What sessions subscribed to on a server that restarts is asked of its new process.
  std::map<std::string, std::map<std::string, int>> subscribed;
  for (const auto& name : changes.restarted) {
    if (auto it = shared_.find(name); it != shared_.end()) {
      subscribed[name] = it->second->subscriptions;
    }
  }
  for (const auto* names : {&changes.removed, &changes.restarted}) {
    for (const auto& name : *names) {
      retire(name);
    }
  }
  for (const auto& name : changes.relabelled) {
    relabel(name);
  }
  for (const auto* names : {&changes.added, &changes.restarted}) {
    for (const auto& name : *names) {
      start_shared(servers_.at(name));
    }
  }
  for (auto& [name, subscriptions] : subscribed) {
    if (auto it = shared_.find(name); it != shared_.end() && !subscriptions.empty()) {
      // Its first "ready" is then a restart's: subscriptions sent again, lists fetched anew.
      it->second->subscriptions = std::move(subscriptions);
      it->second->ever_ready = true;
    }
  }
  std::set<std::string> changed(changes.added.begin(), changes.added.end());
  changed.insert(changes.removed.begin(), changes.removed.end());
  changed.insert(changes.restarted.begin(), changes.restarted.end());
  note_kept_authorization();
  refresh_sessions(changed);
  if (!changed.empty()) {
    start_probes();
  }
  return changes;
}

Relay::ServerChanges Relay::diff_servers(const std::vector<config::ServerConfig>& previous) {
  ServerChanges changes;
  std::map<std::string_view, const config::ServerConfig*> before;
  for (const auto& s : previous) {
    before.emplace(s.name, &s);
  }
  decltype(servers_) next;
  for (const auto& s : cfg_.servers) {
    const auto it = before.find(s.name);
    if (it != before.end() && *it->second == s) {
      next.emplace(s.name, servers_.at(s.name));
      continue;
    }
    if (it == before.end()) {
      changes.added.push_back(s.name);
    } else if (only_labels_differ(*it->second, s)) {
      changes.relabelled.push_back(s.name);
    } else {
      changes.restarted.push_back(s.name);
    }
    next.emplace(s.name, std::make_shared<const config::ServerConfig>(s));
  }
  for (const auto& s : previous) {
    if (next.find(s.name) == next.end()) {
      changes.removed.push_back(s.name);
    }
  }
  servers_ = std::move(next);
  return changes;
}

void Relay::retire(const std::string& server) {
  pool_.forget(server);
  if (auto it = shared_.find(server); it != shared_.end()) {
    drain_and_stop(std::move(it->second), nullptr);
    shared_.erase(it);
  }
  for (auto& [id, s] : sessions_) {
    if (auto it = s->isolated.find(server); it != s->isolated.end()) {
      drain_and_stop(std::move(it->second), s);
      s->isolated.erase(it);
    }
  }
}

void Relay::drain_and_stop(SlotPtr slot, SessionPtr owner) {
  if (!slot->backend) {
    return;
  }
  retiring_.insert(slot);
  // `owner` keeps the session an isolated slot reports to alive until its backend stopped.
  asio::co_spawn(ex_, [this, slot, owner]() -> asio::awaitable<void> {
    const auto deadline = Clock::now() + cfg_.gateway.timeouts.drain;
    asio::steady_timer timer(ex_);
    while (!slot->inflight.empty() && Clock::now() < deadline && !stopping_) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (!slot->inflight.empty()) {
      spdlog::warn("[{}] stopping with {} call(s) still in flight (timeouts.drainMs passed)",
                   slot->cfg->name, slot->inflight.size());
    }
    co_await slot->backend->stop();
    retiring_.erase(slot);
  }, asio::detached);
}

void Relay::relabel(const std::string& server) {
  const auto& cfg = servers_.at(server);
  if (auto it = shared_.find(server); it != shared_.end()) {
    it->second->cfg = cfg;
  }
  for (auto& [id, s] : sessions_) {
    if (auto it = s->isolated.find(server); it != s->isolated.end()) {
      it->second->cfg = cfg;
    }
  }
}

void Relay::refresh_sessions(const std::set<std::string>& changed) {
  namespace mm = mcp::method;
  for (auto& [id, s] : sessions_) {
    bool heard = false;
    for (const auto& name : s->view) {
      heard = heard || changed.count(name) != 0;
    }
    if (!s->single_server) {  // a per-server endpoint keeps its one name, gone or not
      std::vector<std::string> view;
      for (const auto& server : cfg_.servers) {
        const bool joins = s->whole_view && (!s->principal || s->principal->allows_server(
                                                                   server.name));
        if (joins || s->in_view(server.name)) {
          view.push_back(server.name);
        }
      }
      heard = heard || view != s->view;
      s->view = std::move(view);
    }
    if (!heard || !s->initialized() || s->closed()) {
      continue;
    }
    for (auto method : {mm::kToolsListChanged, mm::kPromptsListChanged,
                        mm::kResourcesListChanged}) {
      deliver(*s, nullptr, jsonrpc::make_notification(method, json::object()));
    }
  }
}

}  // namespace mcpgw::relay
