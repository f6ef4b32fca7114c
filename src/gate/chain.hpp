#pragma once
// The security gate: one chain of filters that every request reaching a server crosses
// (tools/call, resources/read, prompts/get, completion/complete, subscriptions, forwarded
// methods), client→server in configured order and server→client in reverse
// (Envoy's model). Config → factory (once, at start) → one filter instance per session.
// Any filter may run in shadow mode: it decides, logs and audits, but lets everything pass.
//
// A filter answers a request with pass, deny, or approve (a human must agree first). The
// chain runs approvals itself: through MCP elicitation when the client declared it, else held
// for an administrator (admin API, `mcpgw approvals`), denied when nobody answers in time.
#include "common/event.hpp"
#include "config/config.hpp"
#include "gate/detect.hpp"
#include "gate/labels.hpp"
#include "gate/scope.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::gate {

namespace json = boost::json;

/// How a call's client is reached while the call waits for an approval. The caller of the
/// chain provides it for the call's lifetime; nothing is made for a call that never waits.
class ClientLink {
 public:
  virtual ~ClientLink() = default;
  /// Whether the client's user can be asked (it declared MCP elicitation).
  virtual bool can_elicit() const = 0;
  /// Asks the client's user. Returns true (accept), false (decline, cancel), or nullopt (no
  /// answer, client gone).
  virtual asio::awaitable<std::optional<bool>> elicit(std::string message) = 0;
  /// Tells the client the call is waiting (progress when it gave a token, else a log message).
  virtual void waiting(const std::string& message, bool first) = 0;
};

/// One gated request, as the filters see it.
struct Call {
  std::string method;     ///< tools/call, resources/read, prompts/get, completion/complete…
  std::string server;
  std::string name;       ///< the server's own tool name, URI or prompt name (the method
                          ///< for a forwarded method the gateway does not know)
  std::string source;     ///< "server/name", for messages and logs
  json::object* params = nullptr;  ///< the request's params: filters may edit arguments
  Labels labels;
  Scope* scope = nullptr;
  /// "-" without authentication. Views of the session's own fields: a Call lives no longer
  /// than the request (or message) it gates, and the session outlives that.
  std::string_view principal;
  std::string_view session;
  /// How the chain reaches the client while the call waits for a human; null: it cannot.
  ClientLink* client = nullptr;
  /// What the chain decided, for the log and the audit row ("taint: approve: …").
  std::vector<std::string> decisions;
  /// The secret-looking tokens of the arguments, normalized (when the tool returns secrets:
  /// what it echoes back of them is not a secret the scope read).
  std::vector<std::string> sent_tokens;
};

struct Outcome {
  enum class Kind { pass, deny, approve };
  Kind kind = Kind::pass;
  std::string reason;
  static Outcome pass() { return {}; }
  static Outcome deny(std::string why) { return {Kind::deny, std::move(why)}; }
  static Outcome approve(std::string why) { return {Kind::approve, std::move(why)}; }
};

class Filter {
 public:
  virtual ~Filter() = default;
  /// Client → server, in configured order.
  virtual Outcome request(Call&) { return Outcome::pass(); }
  /// Server → client, in reverse order. `reply` is the whole JSON-RPC response; a filter may
  /// edit it, or answer deny (the result is withheld) or approve (a human must release it).
  /// Filters in shadow mode must not change it (they record what they would have done).
  virtual Outcome result(Call&, json::object&) { return Outcome::pass(); }
  /// A filter that waits on I/O (asynchronous() true) answers here instead: the chain awaits
  /// these for it, and calls the two above directly for every other filter.
  virtual bool asynchronous() const noexcept { return false; }
  virtual asio::awaitable<Outcome> on_request(Call& call) { co_return request(call); }
  virtual asio::awaitable<Outcome> on_result(Call& call, json::object& reply) {
    co_return result(call, reply);
  }
  /// A message a server sends outside its replies (a log message, progress, a request of its
  /// own such as sampling or elicitation), on its way to the client; `call` names the server
  /// and the method. A filter may edit it, or deny it (it is not delivered; a request is
  /// answered with the refusal).
  virtual Outcome server_message(Call&, json::object& /*msg*/) { return Outcome::pass(); }
  /// The client's answer to a server's request, on its way to that server. Deny keeps it
  /// from the server (which gets the refusal instead).
  virtual Outcome answer(Call&, json::object& /*reply*/) { return Outcome::pass(); }
  /// A server's tools, as listed (once per fetched list, before any session sees it).
  virtual void on_tools(const std::string& /*server*/,
                        const std::shared_ptr<const json::array>& /*tools*/) {}
  /// False when this filter hides the tool from lists (quarantine).
  virtual bool tool_visible(const std::string& /*server*/, std::string_view /*tool*/) {
    return true;
  }

  bool shadow = false;
  std::string type;
};

/// One held call, waiting for an administrator.
struct Approval {
  std::string id;
  std::string principal, session, scope, source, reason, arguments;
  std::int64_t created_ms = 0;
  std::optional<bool> decision;
  std::unique_ptr<Event> decided;
};

/// An approval as the admin API lists it.
json::object approval_json(const Approval& a);

class Approvals {
 public:
  explicit Approvals(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  /// `preview`: the arguments as the administrator sees them (gate/preview.hpp).
  std::shared_ptr<Approval> open(const Call& call, const std::string& reason, std::string preview);
  /// True if `id` was waiting and now has its decision.
  bool decide(std::string_view id, bool approve);
  void close(const std::shared_ptr<Approval>& a);
  json::array list() const;
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  asio::any_io_executor ex_;
  std::map<std::string, std::shared_ptr<Approval>, std::less<>> pending_;
};

class Gate;
class PinStore;
class SharedApprovals;

/// One session's filters.
class Chain : public std::enable_shared_from_this<Chain> {
 public:
  Chain(Gate& gate, std::vector<std::unique_ptr<Filter>> filters, unsigned generation)
      : gate_(gate), filters_(std::move(filters)), generation_(generation) {}
  /// Whether this chain has `gate`'s current filters (a reload may have changed them).
  bool current(const Gate& gate) const noexcept;
  const Gate& gate() const noexcept { return gate_; }
  /// Where a call is in the chain: the next filter to run, and the approval one asked for.
  struct Step {
    std::size_t next = 0;       ///< filters run so far (on the result side, from the last)
    std::optional<Outcome> ask;  ///< a filter's approval request, not yet put to a human
  };
  /// The request side as far as it goes without waiting: pass or deny, or nullopt when a
  /// filter waits on I/O or asks for an approval (request() goes on from `at`). The usual
  /// call crosses the whole chain here, with no coroutine frame.
  std::optional<Outcome> request_now(Call& call, Step& at);
  /// Runs the request side from `at`; pass or deny (approvals are settled inside).
  asio::awaitable<Outcome> request(Call& call, Step at);
  /// The result side (reverse order) as far as it goes without waiting: true when it is
  /// done (a refused result is replaced by the refusal), false when result() must go on.
  bool result_now(Call& call, json::object& reply, Step& at);
  /// Runs the result side from `at`.
  asio::awaitable<void> result(Call& call, json::object& reply, Step at);
  /// Runs a server's own message (server→client, reverse order); pass or deny. Nobody is
  /// asked: a message cannot wait for an approval.
  Outcome server_message(Call& call, json::object& msg);
  /// Runs the client's answer to a server's request (client→server, in order); pass or deny.
  Outcome answer(Call& call, json::object& reply);
  /// Lets the filters see a server's freshly listed tools.
  void tools_listed(const std::string& server, const std::shared_ptr<const json::array>& tools);
  /// False when a filter hides the tool (shadow filters never hide).
  bool tool_visible(const std::string& server, std::string_view tool) const;

  /// The JSON-RPC error that answers a refused call: code -32003, "mcpgw security: why", and
  /// the scope's taint and the tool's labels in `data`.
  static json::object refusal(const Call& call, const json::value& id, std::string_view why);

 private:
  /// Records a decision on a message or an answer; true when it stops it (not shadow).
  bool stops(Filter& f, Call& call, const Outcome& o, std::string_view what);
  /// What a filter's outcome on a request means: go on (pass, or shadow: recorded), stop
  /// (deny: recorded), or ask a human.
  enum class Next { go_on, stop, ask };
  Next on_request(Filter& f, Call& call, const Outcome& o);
  Next on_result(Filter& f, Call& call, const Outcome& o);
  /// Replaces a withheld result by the refusal that says why.
  void withhold(Call& call, json::object& reply, std::string_view why);
  /// `result`: the question is whether to release the call's result, not to make the call.
  asio::awaitable<bool> ask_human(Call& call, const std::string& reason, std::string& why_not,
                                  bool result = false);
  /// Holds the call until an administrator decides (through any replica) or the timeout.
  asio::awaitable<void> wait_for_admin(Call& call, const std::shared_ptr<Approval>& approval,
                                       const std::string& reason);
  Gate& gate_;
  std::vector<std::unique_ptr<Filter>> filters_;
  unsigned generation_;
};

using FilterFactory = std::function<std::unique_ptr<Filter>()>;

class Gate {
 public:
  /// Builds the filter factories of `gateway.security`. Null when security is off, or when a
  /// filter's settings are wrong (then `diag` names them).
  /// `check_only` (mcpgw check-config): settings are checked, but no file is opened.
  static std::unique_ptr<Gate> create(const config::Config& cfg, asio::any_io_executor ex,
                                      config::Diagnostics& diag, bool check_only = false);
  Gate(const config::SecurityConfig& cfg, asio::any_io_executor ex);
  ~Gate();

  /// Takes the filters and settings of a reloaded configuration. The scopes' taint, held
  /// approvals and pins stay; sessions get the new filters on their next request. False (the
  /// gate unchanged, `diag` saying why) when the new settings are wrong.
  bool reconfigure(const config::Config& cfg, config::Diagnostics& diag);
  /// Bumped by each reconfigure: chains of an older one are replaced.
  unsigned generation() const noexcept { return generation_; }

  std::unique_ptr<Chain> new_chain();
  ScopeRegistry& scopes() noexcept { return scopes_; }
  Approvals& approvals() noexcept { return approvals_; }
  const config::SecurityConfig& config() const noexcept { return cfg_; }
  /// The admin API's bearer token (from the environment or a file); empty = admin API off.
  const std::string& admin_token() const noexcept { return admin_token_; }
  std::string filter_names() const;
  asio::any_io_executor executor() const { return ex_; }
  /// The built-in detectors (no custom rules), made on first use.
  const Detectors& detectors();
  /// The tool pins, when a "pin" filter is configured.
  const std::shared_ptr<PinStore>& pins() const noexcept { return pins_; }
  void set_pins(std::shared_ptr<PinStore> p) { pins_ = std::move(p); }
  /// Who hears that another replica changed a server's pins (the relay: it lists the
  /// server's tools again before the next call).
  void on_pins_changed(std::function<void(const std::string&)> f) {
    pins_changed_ = std::move(f);
  }
  void pins_changed(const std::string& server) {
    if (pins_changed_) {
      pins_changed_(server);
    }
  }
  /// gateway.cluster.redis: approvals listed and decided through every replica.
  void share_approvals(std::shared_ptr<SharedApprovals> s) { shared_approvals_ = std::move(s); }
  const std::shared_ptr<SharedApprovals>& shared_approvals() const noexcept {
    return shared_approvals_;
  }
  bool check_only() const noexcept { return check_only_; }

 private:
  config::SecurityConfig cfg_;
  asio::any_io_executor ex_;
  using Factories = std::vector<std::pair<config::FilterConfig, FilterFactory>>;
  /// The factories of the configured filters (the default chain when none are); false when
  /// a filter's settings are wrong.
  bool make_factories(const config::SecurityConfig& sec, config::Diagnostics& diag,
                      Factories& out);
  Factories factories_;
  unsigned generation_ = 0;
  ScopeRegistry scopes_;
  Approvals approvals_;
  std::string admin_token_;
  std::unique_ptr<Detectors> detectors_;
  std::shared_ptr<PinStore> pins_;
  std::function<void(const std::string&)> pins_changed_;
  std::shared_ptr<SharedApprovals> shared_approvals_;
  bool check_only_ = false;
};

/// The admin token: the environment variable `env` if set, else the first line of `file`
/// (trailing spaces and CR dropped); empty when neither gives one.
std::string read_admin_token(const std::string& env, const std::string& file);

/// The JSON-RPC error code of a call the gate refused.
constexpr int kGateDenied = -32003;

}  // namespace mcpgw::gate
