#pragma once
// mcpgw's configuration: the Claude Code / Claude Desktop `mcpServers` format, plus an optional
// top-level `gateway` object for the gateway's own settings. Parsing collects every problem
// with its JSON path instead of stopping at the first.
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::config {

using Millis = std::chrono::milliseconds;

enum class Transport { stdio, http, sse };
/// Who may approve a call the security gate holds.
enum class Approver {
  client,  ///< the client's user through elicitation when it declared it, else an administrator
  admin,   ///< an administrator only (admin API, `mcpgw approvals`), whatever the client offers
};
enum class Isolation {
  shared,   ///< one backend (process or upstream session) shared by all client sessions
  session,  ///< one backend per client session (stateful servers)
};

const char* to_string(Transport t) noexcept;
const char* to_string(Isolation i) noexcept;

/// A trust label's value: not said (filled from tool annotations, else true), false, true, or
/// "forbidden".
enum class Tri : std::uint8_t { unset, no, yes, forbidden };

/// What a server or tool is, for the security gate (`trust`).
struct TrustLabels {
  Tri public_source = Tri::unset;     ///< returns content from outside the organisation
  Tri secret_data = Tri::unset;       ///< returns private data
  Tri public_sink = Tri::unset;       ///< can send data out
  Tri dangerous_writes = Tri::unset;  ///< changes the world
  bool operator==(const TrustLabels&) const = default;
};

/// `gateway.servers.NAME.auth`: the identity the gateway takes toward a remote server for
/// each caller (static credentials go in the server's `headers`).
struct UpstreamAuth {
  enum class Type : std::uint8_t {
    none,
    /// RFC 8693: the caller's OAuth access token traded at `token_url` for one meant for the
    /// server, cached until shortly before it expires.
    token_exchange,
    /// OAuth 2.1 authorization code + PKCE per caller: each user connects their own account
    /// once in a browser (/oauth/start); their tokens are kept in the vault and refreshed.
    oauth,
  };
  Type type = Type::none;
  std::string token_url;      ///< `tokenUrl`
  std::string audience;       ///< `audience` (none when empty)
  /// `resource`: default the server's url (for oauth: the one its resource metadata names)
  std::string resource;
  std::string scope;          ///< `scope` (none when empty)
  /// `clientId`: the gateway's client at the token endpoint (oauth: a pre-registered client;
  /// empty: the gateway's client metadata document, else dynamic registration)
  std::string client_id;
  std::string client_secret;  ///< `clientSecret` (${VAR} expanded): HTTP Basic with clientId
  bool operator==(const UpstreamAuth&) const = default;
};

/// Per-server gateway options (`gateway.servers.NAME`).
struct ServerOptions {
  /// Default: shared for stdio servers; one upstream session per client session for remote
  /// servers (their state is per session), unless `shareable` or `isolation` says otherwise.
  Isolation isolation = Isolation::shared;
  bool isolation_set = false;
  std::optional<Millis> call_timeout;  ///< overrides gateway.timeouts.callMs
  std::size_t max_processes = 0;       ///< stdio processes of this server; 0: only the global cap
  // Remote servers only.
  std::string tls_ca_file;      ///< `tls.caFile`: PEM CA bundle trusted besides the system's
  bool tls_insecure = false;    ///< `tls.insecure`: no certificate verification (loudly logged)
  /// Send the client's own Authorization header to this server (off by default: a client's
  /// credential is for the gateway). Needs isolation "session".
  bool forward_authorization = false;
  /// `passHeaders`: headers a client may set for this server alone, as
  /// `x-mcp-{server}-{header}` (LiteLLM's convention), e.g. a user's own token. Lower case.
  /// Needs isolation "session".
  std::vector<std::string> pass_headers;
  TrustLabels trust;                              ///< `trust`
  std::map<std::string, TrustLabels> tool_trust;  ///< `tools.TOOL.trust` (server's own names)
  std::optional<Approver> approvals;               ///< `approvals`: overrides the gate's
  std::map<std::string, Approver> tool_approvals;  ///< `tools.TOOL.approvals`
  /// `pins: "strict"`: once the server's tools are pinned, a tool it adds or renames later is
  /// quarantined like a changed one.
  bool strict_pins = false;
  UpstreamAuth auth;                               ///< `auth`
  bool operator==(const ServerOptions&) const = default;
};

struct ServerConfig {
  std::string name;
  Transport transport = Transport::stdio;
  // stdio
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  /// The vault entries its env reads (`${user:NAME}`, filled from the caller's own entries
  /// when its process starts); sorted, each once. Needs isolation "session".
  std::vector<std::string> user_secrets;
  /// Its callers' own values or tokens are kept in the vault (`${user:NAME}`, auth "oauth").
  bool needs_vault() const noexcept {
    return !user_secrets.empty() || options.auth.type == UpstreamAuth::Type::oauth;
  }
  std::string cwd;  ///< absolute; defaults to the config file's directory
  // http / sse
  std::string url;
  std::map<std::string, std::string> headers;

  ServerOptions options;
  bool operator==(const ServerConfig&) const = default;
};

struct Limits {
  std::size_t max_body_bytes = 8 * 1024 * 1024;      ///< one HTTP request body
  std::size_t max_header_bytes = 16 * 1024;          ///< all request headers
  std::size_t max_sessions = 10000;                  ///< live client sessions
  std::size_t max_message_bytes = 32 * 1024 * 1024;  ///< one line from a stdio server
  std::size_t max_json_depth = 64;                   ///< nesting of any JSON message
  std::size_t replay_events = 256;                   ///< events kept per SSE stream for resume
  std::size_t max_connections = 20000;               ///< open client TCP connections
  std::size_t max_connections_per_client = 4096;     ///< open connections from one address
  /// Open connections authenticated as one principal (counted from its first request).
  std::size_t max_connections_per_principal = 4096;
  /// Live sessions of one principal (with auth) or of one client address (without).
  std::size_t max_sessions_per_client = 2500;
  std::size_t max_processes = 256;                   ///< stdio server processes, all servers
  std::size_t max_backend_queue_bytes = 16 * 1024 * 1024;  ///< unsent bytes to one server
  /// Heap the gateway may use before it sheds load (503); 0: 80% of the memory it may use
  /// (its cgroup's limit, else the machine's RAM).
  std::size_t memory_budget_bytes = 0;
  std::size_t auth_failures_per_min = 30;            ///< failed credentials per address
};

struct Timeouts {
  Millis call{120'000};             ///< one forwarded request (tools/call, resources/read, …)
  Millis list{5'000};               ///< aggregated lists; slower servers are left out
  Millis startup{30'000};           ///< a server's spawn + initialize handshake
  Millis session_idle{30 * 60'000}; ///< a session with no request and no open stream
  Millis connection_idle{120'000};  ///< an HTTP connection between requests
  Millis header{10'000};            ///< a request's headers, from its first byte
  Millis body{60'000};              ///< a request's body, after its headers
  Millis write{30'000};             ///< each 64 KiB written to a client (slow readers)
  Millis keep_alive{15'000};        ///< comment lines on idle SSE streams
  Millis drain{10'000};             ///< in-flight requests on SIGTERM
  Millis restart_max_backoff{30'000};
  Millis connect{10'000};           ///< TCP connect + TLS handshake to a remote server
};

/// What a token's scope (or other claim value) grants: the same shape as a key's permissions.
struct JwtGrant {
  std::vector<std::string> servers;     ///< empty = all
  std::vector<std::string> tools;       ///< globs on exposed names; empty = all
  std::vector<std::string> deny_tools;  ///< globs on exposed names
  bool operator==(const JwtGrant&) const = default;
};

/// `gateway.auth.jwt`: the gateway as an OAuth 2.1 resource server.
struct JwtConfig {
  std::string issuer;                   ///< required: the `iss` every token must carry
  std::vector<std::string> audiences;   ///< `audience`: one of them must be in `aud`
  std::string jwks;                     ///< a JWKS file (reloaded when it changes) or URL
  bool jwks_is_url = false;
  std::string tls_ca_file;              ///< for an https JWKS URL
  bool tls_insecure = false;
  Millis refresh{300'000};              ///< how often a JWKS URL is fetched again
  Millis refetch_cooldown{10'000};      ///< least time between fetches for unknown key ids
  std::int64_t leeway_s = 60;           ///< clock skew allowed on exp and nbf
  std::vector<std::string> algorithms;  ///< accepted `alg`s; empty = every supported one
  std::string subject_claim = "sub";    ///< the principal's name ("jwt:" + its value)
  std::string grants_claim = "scope";   ///< a space-separated string or an array of strings
  std::map<std::string, JwtGrant> grants;  ///< claim value → permissions; empty = all for all
  std::string resource;                 ///< this gateway's resource id, for the metadata
  std::vector<std::string> authorization_servers;  ///< for the metadata; default: issuer
  bool operator==(const JwtConfig&) const = default;
};

/// `gateway.auth`: who may use the gateway.
struct AuthConfig {
  std::string mode = "none";  ///< "none", "keys", "jwt" or "keys,jwt"
  bool mode_set = false;      ///< chosen in the file (or on the command line)
  std::string store;          ///< SQLite file of keys, or a postgres:// URL
  /// `gateway.storeTimeoutMs`: per PostgreSQL statement, and per connect.
  Millis store_timeout{2000};
  /// `gateway.whenStoreDown`: "refuse" (no key can be checked while the shared store cannot
  /// be read: 503, fail closed) or "cached" (check against the keys read last).
  bool store_down_cached = false;
  JwtConfig jwt;
  bool jwt_set = false;       ///< a `jwt` section was given

  bool operator==(const AuthConfig&) const = default;
  bool uses_keys() const noexcept { return mode == "keys" || mode == "keys,jwt"; }
  bool uses_jwt() const noexcept { return mode == "jwt" || mode == "keys,jwt"; }
};

/// `gateway.audit`: the audit trail.
struct AuditConfig {
  std::optional<bool> enabled;     ///< default: on when auth.mode is keys
  std::string store;               ///< default: next to auth.store (mcpgw.audit.db)
  bool store_set = false;          ///< given in the file (else it follows auth.store)
  std::size_t queue = 10000;       ///< rows waiting for the writer
  bool block_when_full = true;     ///< whenFull: "block" (default) or "drop" (counted)
  bool arguments = false;          ///< store arguments (secrets redacted), not only a digest
  bool operator==(const AuditConfig&) const = default;
};

/// One filter of the security chain, as configured: its own settings are read by its factory.
struct FilterConfig {
  std::string type;
  bool shadow = false;            ///< decide, log and audit, but let everything pass
  boost::json::object settings;   ///< the filter's other keys
  std::string path;               ///< "gateway.security.filters[2]", for diagnostics
  bool operator==(const FilterConfig&) const = default;
};

/// `gateway.security`: the chain every tools/call, resources/read and prompts/get crosses.
struct SecurityConfig {
  /// On with a `security` section, or with trust labels on any server (a policy written down
  /// is never silently off); off only without both, or with `enabled: false`.
  bool enabled = false;
  bool explicitly_off = false;          ///< `enabled: false`
  /// Why it is on without a `security` section: "trust labels on gateway.servers.NAME".
  std::string turned_on_by;
  std::vector<FilterConfig> filters;    ///< in client→server order
  Millis scope_idle{3600'000};          ///< `scopeIdleS`: a scope nobody used is forgotten
  Millis approval_timeout{120'000};     ///< `approvalTimeoutS`: an unanswered approval denies
  std::string admin_token_env = "MCPGW_ADMIN_TOKEN";  ///< `adminTokenEnv`
  std::string admin_token_file;         ///< `adminTokenFile`
  /// The tool pins' SQLite file or PostgreSQL URL (the "pin" filter's `path`): gateway.store
  /// when there is one, else beside the key store.
  std::string pin_store;
  /// gateway.storeTimeoutMs, for a pin store in PostgreSQL.
  Millis store_timeout{2000};
  Approver approvals = Approver::client;  ///< `approvals`
  /// The servers with `pins: "strict"` (from gateway.servers, for the pin filter).
  std::set<std::string> strict_pins;
  bool operator==(const SecurityConfig&) const = default;
};

/// `gateway.health`: what /readyz knows before any client came.
struct HealthConfig {
  /// Servers that start per session (isolation "session") are started now and then on their
  /// own, initialized and stopped, so that their state is known before a client asks.
  bool probe = true;
  Millis probe_interval{30'000};  ///< `probeIntervalMs`; an attempt may take timeouts.startupMs
};

/// `gateway.metrics`: Prometheus text at GET /metrics.
struct MetricsConfig {
  bool enabled = true;
  /// `listen` ("HOST:PORT"): a listener of its own that serves /metrics alone (the main
  /// listener then does not). Empty: /metrics on the main listener.
  std::string listen_host;
  std::uint16_t listen_port = 0;
  bool operator==(const MetricsConfig&) const = default;
};

/// `gateway.tracing`: OpenTelemetry spans, exported as OTLP/HTTP JSON.
struct TracingConfig {
  std::string endpoint;            ///< the collector's traces URL (…/v1/traces); empty: off
  double sample_ratio = 1.0;       ///< `sampleRatio`: of requests that come without a sampled
                                   ///< parent (a parent's decision is followed)
  std::map<std::string, std::string> headers;  ///< sent with each export (an API key: ${VAR})
  std::size_t queue = 2048;        ///< spans waiting for export; more are dropped (counted)
  std::size_t batch = 512;         ///< spans per export request
  Millis flush{1000};              ///< `flushMs`: the longest a span waits for its export
  std::string service_name = "mcpgw";  ///< `serviceName`: the resource's service.name
  std::string tls_ca_file;
  bool tls_insecure = false;
  bool operator==(const TracingConfig&) const = default;
};

/// `gateway.cluster`: replicas behind one load balancer (docs/scale-out.md).
struct ClusterConfig {
  /// `sessionKeyFile`: the key ring the replicas share (common/sealer.hpp). Set, session ids
  /// are sealed: they carry what a session was opened with, and any replica serves them.
  std::string session_key_file;
  /// `replica`: this replica's name, written into the sessions it opens (default: the host
  /// name). Named in the answer to a request for a session only its replica can serve.
  std::string replica;
  /// `sessionMaxAgeS`: a sealed session older than this is not made again on another replica
  /// (its client initializes anew); also how long an ended session is remembered in Redis.
  Millis session_max_age{24LL * 3600 * 1000};
  /// `redis`: "redis://[:password@]host[:port][/db]" (${VAR} expanded): the state the replicas
  /// share live (taint scopes). Empty: each replica keeps its own.
  std::string redis;
  Millis redis_timeout{1000};  ///< `redisTimeoutMs`: per Redis command, and per connect
  /// `whenRedisDown`: "refuse" (a gated call that cannot read or write the shared state is
  /// refused: fail closed) or "local" (gate with this replica's own state, logged).
  bool redis_down_local = false;
  bool enabled() const noexcept { return !session_key_file.empty(); }
  bool operator==(const ClusterConfig&) const = default;
};

/// `gateway.vault`: each user's own secrets, sealed with AES-256-GCM (access/vault.hpp).
struct VaultConfig {
  std::string key_file;                     ///< `keyFile`: the key ring (else `keyEnv`)
  std::string key_env = "MCPGW_VAULT_KEY";  ///< `keyEnv`: a variable holding a key
  /// gateway.store when there is one, else mcpgw.vault.db beside the key store.
  std::string store;
  bool operator==(const VaultConfig&) const = default;
};

struct GatewayConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string separator = "__";
  std::vector<std::string> allowed_hosts;    ///< Host header names; empty = any
  std::vector<std::string> allowed_origins;  ///< Origin values ("scheme://host[:port]")
  Limits limits;
  Timeouts timeouts;
  AuthConfig auth;
  AuditConfig audit;
  SecurityConfig security;
  HealthConfig health;
  MetricsConfig metrics;
  TracingConfig tracing;
  ClusterConfig cluster;
  VaultConfig vault;
  /// `publicUrl`: the gateway's URL as a user's browser reaches it ("https://mcp.example.com"),
  /// for the OAuth consent links and callback. Empty: the address it listens on.
  std::string public_url;
  /// `store`: "postgres://…" (${VAR} expanded), the durable store the replicas share: the API
  /// keys (unless auth.store names another). Empty: SQLite files beside the config.
  std::string store;
  std::string log_level = "info";
  std::string log_format = "text";  ///< `logFormat`: "text" or "json"
  bool access_log = true;           ///< `accessLog`: one line per exchange, at info
  /// `watch`: reload when the config file changes (as SIGHUP does).
  bool watch = false;
};

struct Config {
  std::vector<ServerConfig> servers;  ///< in file order, disabled ones left out
  GatewayConfig gateway;
  std::string base_dir;  ///< directory of the config file

  const ServerConfig* find(std::string_view name) const noexcept;
};

struct Diagnostics {
  std::vector<std::string> errors;    ///< "path: message"
  std::vector<std::string> warnings;  ///< "path: message"
  void error(std::string_view path, std::string_view message);
  void warn(std::string_view path, std::string_view message);
  bool ok() const noexcept { return errors.empty(); }
};

/// Looks up an environment variable; nullopt if unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

/// Parses a config document. `base_dir` resolves relative paths. Returns nullopt if any error
/// was recorded in `diag`.
std::optional<Config> parse(const boost::json::value& doc, const std::string& base_dir,
                            Diagnostics& diag, const EnvLookup& env = process_env());

/// Reads and parses a config file: JSON, or a LiteLLM config.yaml when its name ends in .yaml
/// or .yml (see litellm.hpp).
std::optional<Config> load_file(const std::string& path, Diagnostics& diag,
                                const EnvLookup& env = process_env());

/// Parses "HOST:PORT", "[v6]:PORT" or ":PORT" (host defaults to 127.0.0.1).
bool parse_listen(std::string_view text, std::string& host, std::uint16_t& port);

/// Expands ${VAR} and ${VAR:-default}. Unset variables without a default are reported.
/// With `keep_user_refs`, a `${user:NAME}` is left as it is (filled per user later).
std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::string* missing, bool keep_user_refs = false);
/// Why `name` cannot name a user's vault entry ("" when it can): 1 to 64 of A-Z a-z 0-9 _ . -
std::string check_user_secret_name(std::string_view name);
/// The names of the vault entries `${user:NAME}` in `text`, appended to `names`.
void user_refs(std::string_view text, std::vector<std::string>& names);
/// `text` with each `${user:NAME}` replaced by `values[NAME]` (empty when absent).
std::string fill_user_refs(std::string_view text, const std::map<std::string, std::string>& values);

/// "postgres://…" or "postgresql://…": a store in PostgreSQL rather than a SQLite file.
bool store_is_url(std::string_view store) noexcept;
/// A default file next to a key store: ("mcpgw.db", "audit") → mcpgw.audit.db.
std::string store_beside(const std::string& key_store, std::string_view what);

/// "false", "true" or "forbidden".
const char* to_string(Tri t) noexcept;

/// Empty if `mode` is an auth mode mcpgw serves, else why not. Normalises "jwt,keys".
std::string check_auth_mode(std::string& mode);

/// Empty if the auth settings can be served (jwt mode needs issuer, audience and jwks).
std::string check_auth(const AuthConfig& auth);

/// What the logs and check-config say of the gate: "off (…why…)", or the reason it is on
/// when no `security` section asked for it (empty otherwise).
std::string security_reason(const SecurityConfig& security);

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

}  // namespace mcpgw::config
