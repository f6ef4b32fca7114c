#pragma once
// What every transport to a server has in common: the supervisor loop (connect, handshake,
// serve, back off, again), requests waiting for their responses by wire id, the initialize
// handshake, and routing of what the server sends on its own to the listener. A transport adds
// how messages reach the server (`transmit`) and what one connection's life is (`run_once`).
#include "common/error.hpp"
#include "config/config.hpp"
#include "upstream/backend.hpp"

#include <set>
#include <unordered_map>

namespace mcpgw::access {
class VaultReader;
}

namespace mcpgw::upstream {

class Credential;

/// What the gateway tells a server about itself in initialize.
struct ClientIdentity {
  json::object capabilities;
  json::object client_info;
  /// The client's own Authorization header, for servers configured to receive it
  /// (gateway.servers.NAME.forwardAuthorization); empty otherwise.
  std::string authorization;
  /// Headers the client set for this server alone (gateway.servers.NAME.passHeaders), by
  /// lower-case name; sent after the configured ones, which they replace.
  std::vector<std::pair<std::string, std::string>> headers;
  /// The revision asked for in initialize; empty: the latest the gateway speaks. (The stdio
  /// bridge asks for what its client asked for.)
  std::string protocol_version;
  /// For a server whose env reads `${user:NAME}`: whose vault entries fill it (empty: an
  /// anonymous caller, who has none), and the vault they are read from.
  std::string principal;
  std::shared_ptr<access::VaultReader> vault;
  /// Where the caller's browser reaches the gateway, for their consent links.
  std::string public_url;
  /// For a remote server with `auth`: what gets its Authorization for this caller.
  std::shared_ptr<Credential> credential;
};

class RpcBackend : public Backend, public std::enable_shared_from_this<RpcBackend> {
 public:
  RpcBackend(asio::any_io_executor ex, const config::ServerConfig& server,
             const config::GatewayConfig& gateway, ClientIdentity identity,
             BackendListener& listener);
  ~RpcBackend() override;

  // mcpgw::upstream::Backend
  const std::string& name() const noexcept override { return server_.name; }
  BackendState state() const noexcept override { return state_; }
  const InitInfo& info() const noexcept override { return info_; }
  const std::string& last_error() const noexcept override { return last_error_; }
  const std::string& degraded() const noexcept override { return degraded_; }
  unsigned restarts() const noexcept override { return restarts_; }
  unsigned consecutive_failures() const noexcept override { return failures_; }
  bool waits_for_user() const noexcept override { return waits_for_user_; }
  std::string upstream_identity() const override;
  std::string consent_url() const override { return waits_for_user_ ? consent_link_ : ""; }
  void retry_now() override;
  std::size_t in_flight() const noexcept override { return pending_.size(); }
  void start() override;
  asio::awaitable<void> stop() override;
  asio::awaitable<bool> wait_ready(Clock::time_point deadline) override;
  bool listen_for_resources(std::set<std::string> uris) override;
  using Backend::send_request;
  CallPtr send_request(json::object&& request,
                       std::vector<std::pair<std::string, std::string>> headers) override;
  void cancel(Call& call, boost::system::error_code ec, std::string_view reason) override;
  void send(json::object&& message) override;

 protected:
  /// One life of the connection: connect or spawn, `handshake`, serve until it ends. Returns
  /// whether it became ready. Must fail every pending call before returning.
  virtual asio::awaitable<bool> run_once() = 0;
  /// Puts one message on the wire. `wire_id` is a request's id, 0 for anything else.
  virtual void transmit(json::object&& message, std::int64_t wire_id) = 0;
  /// A call was given up: stop waiting for its reply (close its reply stream, …).
  virtual void abandon(std::int64_t /*wire_id*/) {}
  /// stop() was called: wake whatever `run_once` waits on.
  virtual void begin_stop() {}
  /// After the supervisor ended (or did not within its grace): last clean-up.
  virtual asio::awaitable<void> finish_stop() { co_return; }
  /// How long stop() waits for the supervisor.
  virtual Clock::duration stop_grace() const { return std::chrono::seconds(7); }

  enum class Handshake { ok, no_answer, transport_failed, refused };
  /// Sends initialize through `transmit`, waits until `deadline`, records what the server said
  /// (or why it failed, in last_error_), and sends notifications/initialized on success.
  /// A server that refuses initialize for the 2026-07-28 revision alone is asked
  /// server/discover instead: `modern_` then, and every request carries the envelope.
  asio::awaitable<Handshake> handshake(Clock::time_point deadline);
  asio::awaitable<Handshake> discover(Clock::time_point deadline);
  /// One request of the handshake, answered (result or error) by `deadline`; else nullopt,
  /// with `failure` and last_error_ saying why.
  asio::awaitable<std::optional<json::object>> handshake_call(json::object request,
                                                              Clock::time_point deadline,
                                                              Handshake& failure);
  /// A server of 2026-07-28 sends its list changes only on subscriptions/listen: the request
  /// for the kinds it says change (empty when none does, or for older servers).
  json::object listen_request() const;
  /// The listen is to be opened again (its resourceSubscriptions changed).
  virtual void relisten() {}
  /// Capabilities and instructions, from initialize's or discover's result.
  void read_description(const json::object& result);
  /// Routes a message from the server: responses complete their call, anything else goes to
  /// the listener. Batches are taken apart.
  void deliver(json::value&& msg);
  /// A message from the server that cannot be used (not JSON, too deep): if it names a
  /// pending request's id, that request fails now instead of waiting for its deadline.
  void fail_unusable(std::string_view text, std::string_view why);
  /// Completes one pending call with an error (if still pending).
  void fail_call(std::int64_t wire_id, boost::system::error_code ec, std::string detail,
                 bool unsent = false);
  void fail_pending(boost::system::error_code ec, const std::string& detail);
  /// At the end of a life: fails every pending call with `ec` and last_error_ (or with
  /// shutting_down when stopping).
  void fail_outstanding(Errc ec);
  /// Serves until `ended` is set or stop(); then, unless stopping, the backend is restarting
  /// for `reason` (read when it ends).
  asio::awaitable<void> serve_until(std::shared_ptr<Event> ended, const std::string& reason);
  bool is_pending(std::int64_t wire_id) const { return pending_.count(wire_id) != 0; }
  /// The call a request on its way out belongs to (null if none is pending under its id).
  const Call* pending_call(const json::object& request) const {
    const auto* id = request.if_contains("id");
    const auto it = id != nullptr && id->is_int64() ? pending_.find(id->get_int64())
                                                    : pending_.end();
    return it == pending_.end() ? nullptr : it->second.get();
  }
  void set_state(BackendState s);
  void became_ready();
  /// The caller's own values for the server's `${user:NAME}`, into `values`. False when one
  /// is missing (waits_for_user() then says so) or the vault cannot be read, with last_error_
  /// saying why and what to do.
  asio::awaitable<bool> read_user_secrets(std::map<std::string, std::string>& values);
  /// Records that requests fail while the server is up; cleared by the next success.
  void set_degraded(std::string reason);
  std::shared_ptr<RpcBackend> self() { return shared_from_this(); }

  asio::any_io_executor ex_;
  const config::ServerConfig server_;  ///< a copy: the backend may outlive a reload
  const config::GatewayConfig& gateway_;
  ClientIdentity identity_;
  BackendListener& listener_;

  BackendState state_ = BackendState::stopped;
  InitInfo info_;
  std::string last_error_;
  std::string degraded_;
  unsigned restarts_ = 0;
  unsigned failures_ = 0;
  bool stopping_ = false;
  bool started_ = false;
  bool waits_for_user_ = false;  ///< the last start lacked a value from the caller's vault
  std::string consent_link_;     ///< where the caller gives the values it lacked
  /// The server speaks only 2026-07-28: no session, the envelope and mirrored headers on
  /// every request.
  bool modern_ = false;
  std::set<std::string> listened_resources_;  ///< resourceSubscriptions of the listen
  std::uint64_t listens_ = 0;                  ///< listen requests sent (their ids differ)
  bool listener_gone_ = false;  ///< stop() returned: listener_ may be destroyed
  Event ready_;    ///< state_ == ready
  Event stopped_;  ///< supervisor finished
  Event wake_;     ///< ends the restart backoff early (stop)

 private:
  asio::awaitable<void> supervise();

  std::unordered_map<std::int64_t, CallPtr> pending_;
};

}  // namespace mcpgw::upstream
