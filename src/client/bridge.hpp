#pragma once
// `mcpgw stdio`: a stdio MCP server that relays to one MCP URL (a gateway, or any server), for
// clients that only launch commands (Claude Desktop and other stdio-only clients).
//
// The client's initialize is carried upstream as it came (its revision, capabilities and
// identity), over Streamable HTTP or, when the URL refuses that, legacy HTTP+SSE. From then on
// requests are forwarded with ids of the bridge's own and answered with the client's; what the
// server sends on its own (progress, logs, list_changed, elicitation and sampling requests) is
// written to stdout, and the client's answers go back. When the server restarts, the backend
// reconnects and initializes again; a request meanwhile waits for it (up to the startup
// timeout) instead of failing at once.
#include "client/header_arg.hpp"
#include "client/stdio_channel.hpp"
#include "config/config.hpp"
#include "upstream/server_pool.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mcpgw::client {

namespace json = boost::json;

struct BridgeOptions {
  std::string url;
  std::vector<Header> headers;
  /// "auto" (Streamable HTTP, then legacy SSE if the URL refuses it), "http" or "sse".
  std::string transport = "auto";
  config::Millis startup{30'000};  ///< initialize, and waiting for a restarting server
  config::Millis call{120'000};    ///< one forwarded request
  std::string ca_file;
  bool insecure = false;
};

class Bridge final : public upstream::BackendListener {
 public:
  Bridge(asio::any_io_executor ex, BridgeOptions options, std::shared_ptr<StdioChannel> io);
  ~Bridge() override;

  /// Serves stdin until it ends (or stop()); then ends the upstream session. Returns the exit
  /// code: 0 for a client that went away, 1 if stdin or stdout failed.
  asio::awaitable<int> run();
  /// Ends run() as if stdin had ended (SIGTERM, SIGINT).
  void stop();

  // upstream::BackendListener
  void on_backend_message(upstream::Backend& backend, json::object&& msg) override;
  void on_backend_state(upstream::Backend& backend, upstream::BackendState state) override;

 private:
  struct InFlight {
    upstream::CallPtr call;
    bool cancelled = false;
  };

  void on_line(std::string_view line);
  void on_message(json::object&& msg);
  void on_notification(json::object&& msg);
  asio::awaitable<void> initialize(json::object request);
  asio::awaitable<void> forward(json::object request);
  /// Sends once the backend is ready; null if it was answered already (the server cannot be
  /// reached) or the client cancelled it.
  asio::awaitable<upstream::CallPtr> send(json::object request, const std::string& key,
                                          Clock::time_point deadline);
  /// Starts a backend over `transport` and waits until it is ready, it has failed a few times,
  /// or the startup deadline. Leaves it in backend_ (running, so it retries) either way.
  asio::awaitable<bool> connect(config::Transport transport, upstream::ClientIdentity identity,
                                Clock::time_point deadline);
  /// Waits for a ready backend (a restarting server comes back) until `deadline`.
  asio::awaitable<bool> wait_ready(Clock::time_point deadline);
  json::object initialize_result() const;
  /// A request is being handled / is done (run() waits for none at the end).
  void busy();
  void done();
  void reply_error(const json::value& id, int code, std::string_view message);
  void write(const json::object& msg);

  asio::any_io_executor ex_;
  BridgeOptions opts_;
  std::shared_ptr<StdioChannel> io_;
  config::Config cfg_;  ///< the one server (the URL) as the pool needs it
  upstream::ServerPool pool_;
  upstream::BackendPtr backend_;
  bool initializing_ = false;
  bool stopping_ = false;
  Event state_changed_;
  std::size_t active_ = 0;  ///< requests being handled (initialize included)
  Event idle_;              ///< active_ == 0
  std::map<std::string, InFlight> in_flight_;  ///< by the client's request id (id_key)
};

}  // namespace mcpgw::client
