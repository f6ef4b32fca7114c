#pragma once
// A small HTTP/1.1 client for reaching remote MCP servers: plain or TLS (OpenSSL, verified by
// default), keep-alive connections reused from a pool, and response bodies read as they arrive
// so that SSE replies can be relayed event by event.
#include "common/event.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::upstream {

namespace http = boost::beast::http;

/// An absolute http(s) URL split for the client.
struct Url {
  bool tls = false;
  std::string host;    ///< without brackets for IPv6
  std::string port;    ///< always set ("80"/"443" by default)
  std::string target;  ///< path and query, at least "/"
  /// "scheme://host[:port]" as it appears in the URL (the Host header's value follows it).
  std::string origin() const;
  std::string host_header() const;
  /// For logs, errors and /healthz: origin and path, no query (it may carry a key).
  std::string display() const;
};

/// Parses an absolute http:// or https:// URL; false with `error` otherwise.
bool parse_url(std::string_view text, Url& out, std::string& error);

/// Resolves `ref` (absolute, or relative to `base`, as a server's `endpoint` event may be).
bool resolve_url(const Url& base, std::string_view ref, Url& out, std::string& error);

struct TlsSettings {
  std::string ca_file;    ///< PEM bundle trusted in addition to the system store; empty = none
  bool insecure = false;  ///< skip certificate verification (explicit opt-in only)
};

class HttpClient;
struct Connection;

/// A response whose head has arrived; its body is read piece by piece. Dropping it returns the
/// connection to the pool when the whole body was read and the server keeps the connection.
class HttpResponse {
 public:
  HttpResponse(std::shared_ptr<HttpClient> client, std::unique_ptr<Connection> conn);
  ~HttpResponse();
  HttpResponse(const HttpResponse&) = delete;
  HttpResponse& operator=(const HttpResponse&) = delete;

  unsigned status() const noexcept;
  /// A header's value, or empty.
  std::string_view header(http::field name) const;
  std::string_view header(std::string_view name) const;
  /// True when the Content-Type is `type` (ignoring parameters and case).
  bool content_type_is(std::string_view type) const;

  /// Appends the next bytes of the body to `out`. False at the end of the body or on an error
  /// (then `ec` is set).
  asio::awaitable<bool> read_some(std::string& out, Clock::time_point deadline,
                                  boost::system::error_code& ec);
  /// Reads the rest of the body, up to `limit` bytes (more is an error).
  asio::awaitable<bool> read_all(std::string& out, std::size_t limit, Clock::time_point deadline,
                                 boost::system::error_code& ec);
  /// Closes the connection: a read in progress ends with an error. For giving up on a stream.
  void abort() noexcept;
  bool done() const noexcept;

 private:
  friend class HttpClient;
  std::weak_ptr<HttpClient> client_;
  std::unique_ptr<Connection> conn_;
  bool aborted_ = false;
};

using HttpResponsePtr = std::shared_ptr<HttpResponse>;

struct HttpRequest {
  http::verb method = http::verb::post;
  std::string target;
  http::fields headers;  ///< Host, User-Agent and Content-Length are added
  std::string body;
};

/**
 * Connections to one origin. Not thread-safe: used only from the gateway's event loop.
 * Errors are described for people: "connection refused", "TLS: certificate verify failed
 * (unable to get local issuer certificate)", "timed out connecting after 10000 ms".
 */
class HttpClient : public std::enable_shared_from_this<HttpClient> {
 public:
  HttpClient(asio::any_io_executor ex, Url origin, TlsSettings tls,
             std::chrono::milliseconds connect_timeout, std::string log_name);
  ~HttpClient();

  const Url& origin() const noexcept { return origin_; }

  /// Sends `req` and reads the response head. On failure returns null with `ec` and `error`
  /// set; `connect_failed` tells whether the server could not be reached at all (no request
  /// was delivered).
  asio::awaitable<HttpResponsePtr> send(const HttpRequest& req, Clock::time_point deadline,
                                        boost::system::error_code& ec, std::string& error,
                                        bool& connect_failed);

  /// Drops idle pooled connections (after a server went away).
  void clear_pool() noexcept;
  std::size_t idle_connections() const noexcept { return idle_.size(); }

 private:
  friend class HttpResponse;
  void release(std::unique_ptr<Connection> conn);
  asio::awaitable<std::unique_ptr<Connection>> connect(Clock::time_point deadline,
                                                       boost::system::error_code& ec,
                                                       std::string& error);
  struct TlsContext;

  asio::any_io_executor ex_;
  Url origin_;
  TlsSettings tls_;
  std::chrono::milliseconds connect_timeout_;
  std::string log_name_;
  std::unique_ptr<TlsContext> ssl_;
  std::string setup_error_;  ///< e.g. an unreadable CA file: every request fails with it
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace mcpgw::upstream
