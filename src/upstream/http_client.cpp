#include "upstream/http_client.hpp"

#include "net/http_read.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>


namespace mcpgw::upstream {

namespace beast = boost::beast;
namespace ssl = asio::ssl;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kMaxIdle = 128;
// Node's HTTP server closes idle keep-alive connections after 5 s; reusing one older than that
// would mostly find it closed.
constexpr auto kMaxIdleAge = std::chrono::seconds(4);
constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kChunk = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool from_url_view(const urls::url_view& u, Url& out, std::string& error) {
  const auto scheme = u.scheme_id();
  if (scheme != urls::scheme::http && scheme != urls::scheme::https) {
    error = "expected an http:// or https:// URL";
    return false;
  }
  if (!u.has_authority() || u.host().empty()) {
    error = "the URL has no host";
    return false;
  }
  out.tls = scheme == urls::scheme::https;
  out.host = u.host_type() == urls::host_type::ipv6 ? std::string(u.encoded_host_address())
                                                     : std::string(u.encoded_host());
  out.port = u.has_port() ? std::string(u.port()) : (out.tls ? "443" : "80");
  out.target = std::string(u.encoded_path());
  if (out.target.empty()) {
    out.target = "/";
  }
  if (u.has_query()) {
    out.target += "?";
    out.target += std::string(u.encoded_query());
  }
  return true;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

std::string Url::origin() const {
  const bool default_port = port == (tls ? "443" : "80");
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}{}", tls ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "",
                     default_port ? "" : ":" + port);
}

std::string Url::host_header() const {
  const bool default_port = port == (tls ? "443" : "80");
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}{}", v6 ? "[" : "", host, v6 ? "]" : "", default_port ? "" : ":" + port);
}

std::string Url::display() const { return origin() + target.substr(0, target.find('?')); }

bool parse_url(std::string_view text, Url& out, std::string& error) {
  auto u = urls::parse_absolute_uri(text);
  if (!u) {
    error = fmt::format("not a valid URL: {}", u.error().message());
    return false;
  }
  return from_url_view(*u, out, error);
}

bool resolve_url(const Url& base, std::string_view ref, Url& out, std::string& error) {
  auto r = urls::parse_uri_reference(ref);
  if (!r) {
    error = fmt::format("not a valid URL reference: {}", r.error().message());
    return false;
  }
  urls::url base_url(base.origin() + base.target);
  urls::url dest;
  if (auto rv = urls::resolve(base_url, *r, dest); !rv) {
    error = fmt::format("cannot resolve \"{}\": {}", ref, rv.error().message());
    return false;
  }
  return from_url_view(dest, out, error);
}

// ---------------------------------------------------------------------------------------------

struct HttpClient::TlsContext {
  ssl::context ctx{ssl::context::tls_client};
};

/// One TCP (or TLS) connection and the state of the response being read on it.
struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  /// Bounded: a header section, a chunk-size line or the trailers must fit.
  beast::flat_buffer buffer{kHeaderLimit + net::kReadChunk};
  std::optional<http::response_parser<http::buffer_body>> parser;
  std::unique_ptr<char[]> chunk;  ///< where body bytes land before they are appended
  Clock::time_point idle_since{};
  bool reused = false;

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  void expire(Clock::time_point deadline) {
    if (deadline == Clock::time_point::max()) {
      tcp().expires_never();
    } else {
      tcp().expires_at(deadline);
    }
  }

  asio::awaitable<std::size_t> write(http::request<http::string_body>& req,
                                     boost::system::error_code& ec) {
    std::size_t n = 0;
    if (secure) {
      auto [e, k] = co_await http::async_write(*secure, req, asio::as_tuple(asio::use_awaitable));
      ec = e;
      n = k;
    } else {
      auto [e, k] = co_await http::async_write(*plain, req, asio::as_tuple(asio::use_awaitable));
      ec = e;
      n = k;
    }
    co_return n;
  }

  /// Reads through net::, where a parser exception (a field of 64 KiB or more) is an error and
  /// not an exception escaping the event loop.
  /// (No co_await inside ?: here: g++ 12 miscompiles it.)
  asio::awaitable<void> read_header(boost::system::error_code& ec) {
    if (secure) {
      ec = co_await net::read_header(*secure, buffer, *parser);
    } else {
      ec = co_await net::read_header(*plain, buffer, *parser);
    }
  }

  asio::awaitable<void> read_body(boost::system::error_code& ec) {
    if (secure) {
      ec = (co_await net::read_some(*secure, buffer, *parser)).ec;
    } else {
      ec = (co_await net::read_some(*plain, buffer, *parser)).ec;
    }
  }

  void close() noexcept {
    boost::system::error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp().close();
  }
};

// ---------------------------------------------------------------------------------------------

HttpResponse::HttpResponse(std::shared_ptr<HttpClient> client, std::unique_ptr<Connection> conn)
    : client_(client), conn_(std::move(conn)) {}

HttpResponse::~HttpResponse() {
  if (!conn_) {
    return;
  }
  auto client = client_.lock();
  if (client && !aborted_ && conn_->parser && conn_->parser->is_done() &&
      conn_->parser->keep_alive()) {
    conn_->parser.reset();
    client->release(std::move(conn_));
    return;
  }
  conn_->close();
}

unsigned HttpResponse::status() const noexcept { return conn_->parser->get().result_int(); }

std::string_view HttpResponse::header(http::field name) const {
  const auto& h = conn_->parser->get();
  auto it = h.find(name);
  return it == h.end() ? std::string_view() : std::string_view(it->value());
}

std::string_view HttpResponse::header(std::string_view name) const {
  const auto& h = conn_->parser->get();
  auto it = h.find(name);
  return it == h.end() ? std::string_view() : std::string_view(it->value());
}

bool HttpResponse::content_type_is(std::string_view type) const {
  std::string_view ct = header(http::field::content_type);
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') {
    ct.remove_suffix(1);
  }
  return iequals(ct, type);
}

bool HttpResponse::done() const noexcept { return conn_->parser->is_done(); }

void HttpResponse::abort() noexcept {
  if (!aborted_ && conn_) {
    aborted_ = true;
    conn_->close();
  }
}

asio::awaitable<bool> HttpResponse::read_some(std::string& out, Clock::time_point deadline,
                                              boost::system::error_code& ec) {
  ec = {};
  auto& parser = *conn_->parser;
  if (!conn_->chunk) {
    conn_->chunk = std::make_unique<char[]>(kChunk);  // once per connection, reused
  }
  while (!parser.is_done()) {
    if (aborted_) {
      ec = asio::error::operation_aborted;
      co_return false;
    }
    parser.get().body().data = conn_->chunk.get();
    parser.get().body().size = kChunk;
    conn_->expire(deadline);
    co_await conn_->read_body(ec);
    const std::size_t got = kChunk - parser.get().body().size;
    out.append(conn_->chunk.get(), got);
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec) {
      co_return false;
    }
    if (got > 0) {
      co_return true;
    }
  }
  co_return false;
}

asio::awaitable<bool> HttpResponse::read_all(std::string& out, std::size_t limit,
                                             Clock::time_point deadline,
                                             boost::system::error_code& ec) {
  for (;;) {
    const bool more = co_await read_some(out, deadline, ec);
    if (!more) {
      break;
    }
    if (out.size() > limit) {
      ec = make_error_code(http::error::body_limit);
      co_return false;
    }
  }
  co_return !ec;
}

// ---------------------------------------------------------------------------------------------

HttpClient::HttpClient(asio::any_io_executor ex, Url origin, TlsSettings tls,
                       std::chrono::milliseconds connect_timeout, std::string log_name)
    : ex_(std::move(ex)), origin_(std::move(origin)), tls_(std::move(tls)),
      connect_timeout_(connect_timeout), log_name_(std::move(log_name)) {
  if (!origin_.tls) {
    return;
  }
  ssl_ = std::make_unique<TlsContext>();
  boost::system::error_code ec;
  ssl_->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                        ssl::context::no_tlsv1_1);
  ssl_->ctx.set_default_verify_paths(ec);
  if (ec) {
    spdlog::warn("[{}] cannot load the system CA store: {}", log_name_, ec.message());
  }
  if (!tls_.ca_file.empty()) {
    ssl_->ctx.load_verify_file(tls_.ca_file, ec);
    if (ec) {
      setup_error_ = fmt::format("cannot load tls.caFile {}: {}", tls_.ca_file, ec.message());
      spdlog::error("[{}] {}", log_name_, setup_error_);
    }
  }
  if (tls_.insecure) {
    ssl_->ctx.set_verify_mode(ssl::verify_none);
    spdlog::warn("[{}] TLS CERTIFICATE VERIFICATION IS OFF (tls.insecure): anyone on the path to "
                 "{} can read and change this server's traffic", log_name_, origin_.origin());
  } else {
    ssl_->ctx.set_verify_mode(ssl::verify_peer);
  }
}

HttpClient::~HttpClient() = default;

void HttpClient::clear_pool() noexcept {
  for (auto& c : idle_) {
    c->close();
  }
  idle_.clear();
}

void HttpClient::release(std::unique_ptr<Connection> conn) {
  if (idle_.size() >= kMaxIdle) {
    conn->close();
    return;
  }
  conn->idle_since = Clock::now();
  conn->reused = true;
  idle_.push_back(std::move(conn));
}

asio::awaitable<std::unique_ptr<Connection>> HttpClient::connect(Clock::time_point deadline,
                                                                 boost::system::error_code& ec,
                                                                 std::string& error) {
  const auto connect_deadline = std::min(deadline, Clock::now() + connect_timeout_);
  tcp::resolver resolver(ex_);
  // The resolver has no deadline of its own: a timer cancels it.
  asio::steady_timer guard(ex_, connect_deadline);
  guard.async_wait([&resolver](boost::system::error_code e) {
    if (!e) {
      resolver.cancel();
    }
  });
  auto [rec, endpoints] = co_await resolver.async_resolve(origin_.host, origin_.port,
                                                          asio::as_tuple(asio::use_awaitable));
  guard.cancel();
  if (rec) {
    ec = rec;
    error = rec == asio::error::operation_aborted
                ? fmt::format("timed out resolving {}", origin_.host)
                : fmt::format("cannot resolve {}: {}", origin_.host, rec.message());
    co_return nullptr;
  }
  auto conn = std::make_unique<Connection>();
  if (ssl_) {
    conn->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex_, ssl_->ctx);
  } else {
    conn->plain = std::make_unique<beast::tcp_stream>(ex_);
  }
  conn->tcp().expires_at(connect_deadline);
  auto [cec, ep] = co_await conn->tcp().async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  if (cec) {
    ec = cec;
    error = cec == beast::error::timeout
                ? fmt::format("timed out connecting to {}", origin_.origin())
                : fmt::format("cannot connect to {}: {}", origin_.origin(), cec.message());
    co_return nullptr;
  }
  conn->tcp().socket().set_option(tcp::no_delay(true), ec);
  ec = {};
  if (conn->secure) {
    SSL* ssl = conn->secure->native_handle();
    if (!is_ip_literal(origin_.host)) {
      SSL_set_tlsext_host_name(ssl, origin_.host.c_str());  // SNI
    }
    if (!tls_.insecure) {
      conn->secure->set_verify_callback(ssl::host_name_verification(origin_.host));
    }
    auto [hec] = co_await conn->secure->async_handshake(ssl::stream_base::client,
                                                        asio::as_tuple(asio::use_awaitable));
    if (hec) {
      ec = hec;
      const long verify = SSL_get_verify_result(ssl);
      if (hec == beast::error::timeout) {
        error = fmt::format("timed out in the TLS handshake with {}", origin_.origin());
      } else if (verify != X509_V_OK) {
        error = fmt::format("TLS certificate of {} not trusted: {}{}", origin_.origin(),
                            X509_verify_cert_error_string(verify),
                            tls_.ca_file.empty() ? " (set tls.caFile to trust a private CA)" : "");
      } else {
        error = fmt::format("TLS handshake with {} failed: {}", origin_.origin(), hec.message());
      }
      co_return nullptr;
    }
  }
  co_return conn;
}

asio::awaitable<HttpResponsePtr> HttpClient::send(const HttpRequest& req,
                                                  Clock::time_point deadline,
                                                  boost::system::error_code& ec,
                                                  std::string& error, bool& connect_failed) {
  auto self = shared_from_this();
  ec = {};
  error.clear();
  connect_failed = false;
  if (!setup_error_.empty()) {
    ec = make_error_code(boost::system::errc::invalid_argument);
    error = setup_error_;
    connect_failed = true;
    co_return nullptr;
  }
  http::request<http::string_body> msg{req.method, req.target, 11};
  for (const auto& f : req.headers) {
    msg.set(f.name_string(), f.value());
  }
  msg.set(http::field::host, origin_.host_header());
  msg.set(http::field::user_agent, "mcpgw/" MCPGW_VERSION);
  msg.keep_alive(true);
  if (req.method == http::verb::post || !req.body.empty()) {
    msg.body() = req.body;
    msg.prepare_payload();
  }

  // A pooled connection may have been closed by the server while idle: such a failure before
  // any byte of a response is retried once on a new connection (nothing was processed).
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> conn;
    while (!idle_.empty() && !conn) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (Clock::now() - c->idle_since < kMaxIdleAge) {
        conn = std::move(c);
      } else {
        c->close();
      }
    }
    if (!conn) {
      conn = co_await connect(deadline, ec, error);
      if (!conn) {
        connect_failed = true;
        co_return nullptr;
      }
    }
    const bool reused = conn->reused;
    conn->expire(deadline);
    co_await conn->write(msg, ec);
    if (!ec) {
      conn->parser.emplace();
      conn->parser->header_limit(kHeaderLimit);
      conn->parser->body_limit(boost::none);  // callers bound what they keep
      if (req.method == http::verb::head) {
        conn->parser->skip(true);
      }
      co_await conn->read_header(ec);
      if (!ec) {
        co_return std::make_shared<HttpResponse>(self, std::move(conn));
      }
    }
    conn->close();
    const bool stale = ec == http::error::end_of_stream || ec == asio::error::eof ||
                       ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    if (!(reused && stale)) {
      break;
    }
    spdlog::debug("[{}] pooled connection was closed by the server; retrying on a new one",
                  log_name_);
    clear_pool();  // its siblings are likely closed too
  }
  error = ec == beast::error::timeout
              ? fmt::format("no response from {} before the deadline", origin_.origin())
              : fmt::format("request to {} failed: {}", origin_.origin(), ec.message());
  co_return nullptr;
}

}  // namespace mcpgw::upstream
