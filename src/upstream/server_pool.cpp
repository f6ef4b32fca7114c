// Making backends by transport, sharing connection pools, and each server's latest state.
#include "upstream/server_pool.hpp"

#include "common/metrics.hpp"

#include "upstream/http_client.hpp"
#include "upstream/oauth_client.hpp"
#include "upstream/remote_backend.hpp"
#include "upstream/stdio_backend.hpp"
#include "upstream/token_exchange.hpp"

namespace mcpgw::upstream {

std::string display_url(const std::string& url) {
  Url u;
  std::string error;
  if (!parse_url(url, u, error)) {
    return "(invalid)";
  }
  return u.display();
}

ServerPool::ServerPool(asio::any_io_executor ex, const config::Config& cfg)
    : ex_(std::move(ex)), cfg_(cfg) {}

ServerPool::~ServerPool() = default;

std::shared_ptr<HttpClient> ServerPool::http_client(const config::ServerConfig& server) {
  auto& client = http_clients_[server.name];
  if (!client) {
    Url url;
    std::string error;
    parse_url(server.url, url, error);  // checked when the config was read
    TlsSettings tls;
    tls.ca_file = server.options.tls_ca_file;
    tls.insecure = server.options.tls_insecure;
    client = std::make_shared<HttpClient>(ex_, std::move(url), std::move(tls),
                                          cfg_.gateway.timeouts.connect, server.name);
  }
  return client;
}

BackendPtr ServerPool::make(const config::ServerConfig& server, ClientIdentity identity,
                            BackendListener& listener) {
  if (factory_) {
    return factory_(server, std::move(identity), listener);
  }
  switch (server.transport) {
    case config::Transport::stdio:
      return std::make_shared<StdioBackend>(ex_, server, cfg_.gateway, std::move(identity),
                                            listener);
    case config::Transport::http:
      return std::make_shared<StreamableHttpBackend>(ex_, server, cfg_.gateway,
                                                     std::move(identity), listener,
                                                     http_client(server));
    default:
      return std::make_shared<LegacySseBackend>(ex_, server, cfg_.gateway, std::move(identity),
                                                listener, http_client(server));
  }
}

void ServerPool::record(const std::string& server, BackendState state,
                        const std::string& reason) {
  if (state == BackendState::stopped) {
    return;
  }
  auto& st = status_[server];
  if (st.state != state) {
    st.since = Clock::now();
    if (state == BackendState::restarting) {
      static auto& restarts = metrics::registry().counter(
          "mcpgw_server_restarts_total",
          "Times a server's backend went down and began restarting (any of its instances)",
          {"server"});
      restarts.at({server}).inc();
    }
  }
  st.state = state;
  st.reason = reason;
}

void ServerPool::forget(std::string_view server) {
  if (auto it = http_clients_.find(server); it != http_clients_.end()) {
    http_clients_.erase(it);
  }
  if (auto it = exchangers_.find(server); it != exchangers_.end()) {
    exchangers_.erase(it);
  }
  if (auto it = oauth_.find(server); it != oauth_.end()) {
    oauth_.erase(it);
  }
  if (auto it = status_.find(server); it != status_.end()) {
    status_.erase(it);
  }
}

std::shared_ptr<OAuthClient> ServerPool::oauth(const config::ServerConfig& server) {
  if (server.options.auth.type != config::UpstreamAuth::Type::oauth) {
    return nullptr;
  }
  auto& client = oauth_[server.name];
  if (!client || !(client->settings() == server.options.auth) ||
      client->public_url() != public_url_) {
    client = std::make_shared<OAuthClient>(ex_, server, cfg_.gateway, vault_, public_url_);
  }
  return client;
}

std::shared_ptr<Credential> ServerPool::credential(
    const config::ServerConfig& server, std::shared_ptr<const std::string> caller_token,
    const std::string& principal) {
  if (auto client = oauth(server)) {
    return client->credential(principal);
  }
  if (server.options.auth.type != config::UpstreamAuth::Type::token_exchange) {
    return nullptr;
  }
  auto& exchanger = exchangers_[server.name];
  if (!exchanger || !(exchanger->settings() == server.options.auth)) {
    exchanger = std::make_shared<TokenExchanger>(ex_, server, cfg_.gateway);
  }
  return exchanger->credential(std::move(caller_token));
}

const ServerPool::Status* ServerPool::status(std::string_view server) const {
  auto it = status_.find(server);
  return it == status_.end() ? nullptr : &it->second;
}

}  // namespace mcpgw::upstream
