// Sessions across replicas (gateway.cluster): sealed ids minted, and sessions of other
// replicas made again from them.
#include "access/key_store.hpp"
#include "common/random.hpp"
#include "mcp/protocol.hpp"
#include "relay/relay.hpp"
#include "relay/session_seal.hpp"
#include "relay/util.hpp"

#include <spdlog/spdlog.h>

namespace mcpgw::relay {

namespace {

/// Sealed sessions ended by their client that this replica remembers (oldest forgotten first).
constexpr std::size_t kMaxEndedSessions = 65'536;

/// The start of a sealed id, for logs (the whole id is a few hundred characters).
std::string_view short_id(std::string_view id) { return id.substr(0, 16); }

/// Where Redis remembers that a session was ended (its id's digest: ids are long).
std::string ended_key(std::string_view id) { return "mcpgw:ended:" + access::sha256_hex(id); }

}  // namespace

void Relay::use_session_keys(std::shared_ptr<const Sealer> keys, std::string replica) {
  session_keys_ = std::move(keys);
  replica_ = std::move(replica);
  share_events();
}

std::string Relay::new_session_id(const SessionSpec& spec) const {
  if (session_keys_ == nullptr) {
    return random_hex(16);
  }
  SealedSession st;
  st.replica = replica_;
  st.opened_ms = unix_ms();
  st.transport = spec.transport;
  st.endpoint = spec.endpoint;
  st.principal = spec.principal ? spec.principal->name : std::string();
  st.scope_name = spec.scope_name;
  st.whole_view = spec.whole_view;
  st.single_server = spec.single_server;
  st.view = spec.view;
  for (const auto& name : spec.view) {
    const auto it = servers_.find(name);
    st.isolated |= it != servers_.end() &&
                   it->second->options.isolation == config::Isolation::session;
  }
  if (spec.handshake != nullptr) {
    st.version = mcp::negotiate(string_at(*spec.handshake, "protocolVersion"));
    if (const auto* caps = spec.handshake->if_contains("capabilities"); caps && caps->is_object()) {
      st.capabilities = caps->get_object();
    }
    if (const auto* info = spec.handshake->if_contains("clientInfo"); info && info->is_object()) {
      st.client_info = info->get_object();
    }
  }
  return seal_session(*session_keys_, st);
}

boost::system::result<SessionPtr> Relay::revive_session(std::string_view id, SessionSpec current,
                                                        std::string& refusal) {
  const auto not_found = make_error_code(Errc::session_not_found);
  if (session_keys_ == nullptr || ended_.contains(std::string(id))) {
    return not_found;
  }
  auto st = open_sealed_session(*session_keys_, id);
  if (!st) {
    return not_found;
  }
  if (st->transport == ClientTransport::legacy_sse || st->isolated || st->version.empty()) {
    refusal = fmt::format(
        "Session not found on replica \"{}\": it is bound to replica \"{}\" ({}); route requests "
        "by the session id (docs/scale-out.md)", replica_, st->replica,
        st->transport == ClientTransport::legacy_sse ? "its SSE stream is there"
                                                     : "its own servers run there");
    return not_found;
  }
  if (st->opened_ms + cfg_.gateway.cluster.session_max_age.count() < unix_ms()) {
    return not_found;  // older than gateway.cluster.sessionMaxAgeS: its client starts anew
  }
  const std::string principal = current.principal ? current.principal->name : std::string();
  if (st->endpoint != current.endpoint || st->principal != principal) {
    return not_found;  // as for a session of this replica's opened by someone else
  }
  std::vector<std::string> view;
  for (const auto& name : st->view) {
    if (servers_.contains(name) && (!current.principal || current.principal->allows_server(name))) {
      view.push_back(name);
    }
  }
  if (st->whole_view) {  // as a reload would have widened it: every server it may use
    std::string error;
    view = resolve_view("", "", current.principal.get(), error).value_or(std::move(view));
  }
  current.view = std::move(view);
  current.transport = ClientTransport::streamable_http;
  current.whole_view = st->whole_view;
  current.single_server = st->single_server;
  current.scope_name = st->scope_name;
  auto s = admit_session(std::string(id), std::move(current));
  if (!s) {
    return s;
  }
  (*s)->negotiate(std::move(st->version), std::move(st->capabilities),
                  std::move(st->client_info));
  (*s)->mark_initialized();
  spdlog::info("session {}… revived: opened on replica \"{}\", protocol {}", short_id(id),
               st->replica, (*s)->protocol_version());
  return s;
}

asio::awaitable<void> Relay::end_session(SessionPtr s) {
  if (session_keys_ != nullptr && s) {
    remember_ended(s->id);
    if (const auto redis = shared_redis_) {  // every replica is to know it, before the reply
      const auto ttl = std::to_string(cfg_.gateway.cluster.session_max_age.count());
      auto r = co_await redis->command(upstream::redis_args("SET", ended_key(s->id), "1", "PX", ttl));
      if (!r || r->type == upstream::RedisReply::Type::error) {
        spdlog::warn("session {}… ended here, but Redis could not record it for the other "
                     "replicas: {}", short_id(s->id), redis->last_error());
      }
    }
  }
  close_session(s, "DELETE");
}

asio::awaitable<bool> Relay::still_open(SessionPtr s) {
  constexpr auto kEvery = std::chrono::seconds(1);
  const auto now = Clock::now();
  if (!shared_redis_ || session_keys_ == nullptr || now - s->ended_checked < kEvery) {
    co_return true;
  }
  s->ended_checked = now;
  const std::string id = s->id;  // the session may close while this waits
  if (!co_await session_ended(id)) {
    co_return true;
  }
  close_session(s, "ended through another replica");
  co_return false;
}

asio::awaitable<bool> Relay::session_ended(std::string_view id) {
  if (ended_.contains(std::string(id))) {
    co_return true;
  }
  const auto redis = shared_redis_;
  if (!redis) {
    co_return false;
  }
  auto r = co_await redis->command(upstream::redis_args("EXISTS", ended_key(id)));
  if (!r || r->type != upstream::RedisReply::Type::integer) {
    co_return !cfg_.gateway.cluster.redis_down_local;  // cannot tell: fail closed
  }
  co_return r->integer == 1;
}

void Relay::remember_ended(const std::string& id) {
  if (!ended_.insert(id).second) {
    return;
  }
  ended_order_.push_back(id);
  if (ended_order_.size() > kMaxEndedSessions) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
}

}  // namespace mcpgw::relay
