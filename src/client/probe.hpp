#pragma once
// `mcpgw probe URL`: tries every MCP transport and protocol revision against a server and says,
// in words, what works, what does not and why. This header holds what the probe finds; the
// steps are in probe_*.cpp, the rendering in probe_report.hpp.
#include "client/header_arg.hpp"
#include "upstream/http_client.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::client {

struct ProbeOptions {
  upstream::Url url;
  std::vector<Header> headers;  ///< sent with every request to the server's origin
  upstream::TlsSettings tls;
  /// Every step (one request and its reply) ends by this long; the whole probe by `total`.
  std::chrono::milliseconds step{5000};
  std::chrono::milliseconds total{30000};
};

/// A check's result: ✓ works, ✗ fails (something a client will trip on), – neither (not
/// applicable, skipped, or a fact worth knowing).
enum class Mark { ok, fail, info };

struct Check {
  std::string id;      ///< stable, for scripts: "reach", "discover", "http.initialize", …
  std::string what;    ///< for people: "Streamable HTTP: POST initialize"
  Mark mark = Mark::info;
  std::string detail;  ///< what happened, in words
  std::string url;     ///< the URL it was tried on
};

struct ToolSummary {
  std::string name;
  std::string description;  ///< the first line only
};

/// What a 401/403 said, and what its OAuth metadata (if any) adds.
struct AuthFinding {
  unsigned status = 0;        ///< 0: no request was refused
  std::string challenge;      ///< the WWW-Authenticate header
  std::string said;           ///< the refusal's own words (at most 200 characters)
  std::string resource_metadata;     ///< the RFC 9728 document's URL, when one was read
  std::string authorization_server;  ///< empty: no OAuth metadata found
  std::optional<bool> dcr;           ///< dynamic client registration, when the AS is known
};

struct Findings {
  std::vector<Check> checks;
  std::vector<ToolSummary> tools;
  std::string transport;    ///< "http" (Streamable HTTP), "sse" (legacy), empty: none works
  std::string working_url;  ///< where that transport works (the URL given, or a sibling)
  std::string server_name, server_version, protocol_version;
  AuthFinding auth;
  bool reachable = false;
  /// The 2026-07-28 revision works (discover, and tools/list with no session); its tools.
  bool modern = false;
  std::vector<ToolSummary> modern_tools;
  /// Only that revision works: clients of the older ones (initialize) fail here.
  bool modern_only = false;
  /// Why nothing works, in one line (empty when something works).
  std::string failure;
};

/// Runs every check on `opts.url` and returns what was found. Never throws on network errors;
/// returns within about `opts.total`.
asio::awaitable<Findings> probe(asio::any_io_executor ex, const ProbeOptions& opts);

/// The same, on an event loop of its own (for the command line).
Findings run_probe(const ProbeOptions& opts);

}  // namespace mcpgw::client
