#include "store/postgres.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>

#include <charconv>
#include <memory>

namespace mcpgw::store {

namespace {

/// libpq's message on one line: its line breaks (and the tabs after them) become one space.
std::string trimmed(const char* message) {
  std::string s;
  for (const char* p = message != nullptr ? message : ""; *p != '\0'; ++p) {
    const bool space = *p == '\n' || *p == '\t' || *p == ' ';
    if (!space || (!s.empty() && s.back() != ' ')) {
      s += space ? ' ' : *p;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

/// Adds one PGresult to `out`: its rows replace the previous statement's; the first error wins.
void absorb(PGresult* r, PgResult& out) {
  const ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE) {
    out.rows.clear();
    const int n = PQntuples(r), cols = PQnfields(r);
    out.rows.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      auto& row = out.rows.emplace_back();
      row.reserve(static_cast<std::size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(r, i, c)) {
          row.emplace_back(std::nullopt);
        } else {
          row.emplace_back(std::string(PQgetvalue(r, i, c), static_cast<std::size_t>(PQgetlength(r, i, c))));
        }
      }
    }
  }
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    const char* n = PQcmdTuples(r);
    out.affected = (n != nullptr && *n != '\0') ? std::stoll(n) : 0;
    return;
  }
  if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) &&
      out.error.empty()) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    out.sqlstate = state != nullptr ? state : "";
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    out.error = primary != nullptr ? primary : trimmed(PQresultErrorMessage(r));
    out.ok = false;
  }
}

/// The server's notices ("relation … already exists, skipping") are not for our users.
void ignore_notice(void* /*arg*/, const char* /*message*/) {}

/// Sends `sql`: with `params` as one statement, without as a script. libpq's 0 on failure.
int send(PGconn* conn, const std::string& sql, const PgParams& params) {
  if (params.empty()) {
    return PQsendQuery(conn, sql.c_str());
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return PQsendQueryParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                           values.data(), nullptr, nullptr, 0);
}

}  // namespace

std::optional<std::int64_t> column_int(const std::optional<std::string>& value) noexcept {
  std::int64_t n = 0;
  if (!value ||
      std::from_chars(value->data(), value->data() + value->size(), n).ec != std::errc()) {
    return std::nullopt;
  }
  return n;
}

bool is_postgres_url(std::string_view text) noexcept {
  return text.starts_with("postgres://") || text.starts_with("postgresql://");
}

std::string redact_password(std::string_view url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) {
    return std::string(url);
  }
  const auto colon = url.substr(0, at).find(':', scheme + 3);
  if (colon == std::string_view::npos) {
    return std::string(url);
  }
  return fmt::format("{}***{}", url.substr(0, colon + 1), url.substr(at));
}

// ---- PgConnection ----

PgConnection::PgConnection(asio::any_io_executor ex, std::string url,
                           std::chrono::milliseconds timeout)
    : ex_(ex), url_(std::move(url)), timeout_(timeout), sock_(ex), timer_(ex) {}

std::shared_ptr<PgConnection> PgConnection::create(asio::any_io_executor ex, std::string url,
                                                   std::chrono::milliseconds timeout) {
  return std::shared_ptr<PgConnection>(new PgConnection(std::move(ex), std::move(url), timeout));
}

PgConnection::~PgConnection() { close(); }

bool PgConnection::up() const noexcept {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

void PgConnection::close() {
  timer_.cancel();
  if (sock_.is_open()) {
    boost::system::error_code ignored;
    sock_.cancel(ignored);
    sock_.release();  // the socket is libpq's to close
  }
  fd_ = -1;
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
}

bool PgConnection::adopt_socket() {
  const int fd = PQsocket(conn_);
  if (fd < 0) {
    return false;
  }
  if (fd != fd_) {
    if (sock_.is_open()) sock_.release();
    boost::system::error_code ec;
    sock_.assign(fd, ec);
    if (ec) {
      return false;
    }
    fd_ = fd;
  }
  return true;
}

asio::awaitable<bool> PgConnection::wait(Wait w, std::chrono::steady_clock::time_point deadline) {
  auto self = shared_from_this();
  auto fired = std::make_shared<bool>(false);
  timer_.expires_at(deadline);
  timer_.async_wait([self, fired](boost::system::error_code ec) {
    if (!ec) {
      *fired = true;
      boost::system::error_code ignored;
      self->sock_.cancel(ignored);
    }
  });
  using W = asio::posix::descriptor_base::wait_type;
  auto [ec] = co_await sock_.async_wait(w == Wait::read ? W::wait_read : W::wait_write,
                                        asio::as_tuple(asio::use_awaitable));
  timer_.cancel();
  co_return !ec && !*fired && conn_ != nullptr;
}

asio::awaitable<bool> PgConnection::resolve_host(std::string& hostaddr) {
  PQconninfoOption* opts = PQconninfoParse(url_.c_str(), nullptr);
  if (opts == nullptr) {
    co_return true;  // libpq will say what is wrong with the URL
  }
  std::string host, port = "5432";
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::string_view(o->keyword) == "host") host = o->val;
    if (std::string_view(o->keyword) == "port") port = o->val;
  }
  PQconninfoFree(opts);
  boost::system::error_code not_an_address;
  asio::ip::make_address(host, not_an_address);
  // A socket directory, several hosts or an address: nothing to resolve here.
  if (host.empty() || host.front() == '/' || host.find(',') != std::string::npos ||
      !not_an_address) {
    co_return true;
  }
  asio::ip::tcp::resolver resolver(ex_);
  auto [rec, found] = co_await resolver.async_resolve(host, port, asio::as_tuple(asio::use_awaitable));
  if (rec || found.empty()) {
    last_error_ = fmt::format("cannot resolve {}: {}", host, rec ? rec.message() : "no address");
    co_return false;
  }
  hostaddr = found.begin()->endpoint().address().to_string();
  co_return true;
}

asio::awaitable<bool> PgConnection::connect() {
  auto self = shared_from_this();
  close();
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::string hostaddr;
  if (!co_await resolve_host(hostaddr)) {
    co_return false;
  }
  const char* keys[] = {"dbname", "hostaddr", nullptr};
  const char* vals[] = {url_.c_str(), hostaddr.empty() ? nullptr : hostaddr.c_str(), nullptr};
  conn_ = PQconnectStartParams(keys, vals, 1);
  if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
    last_error_ = conn_ != nullptr ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    close();
    co_return false;
  }
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED || !adopt_socket()) {
      last_error_ = trimmed(PQerrorMessage(conn_));
      close();
      co_return false;
    }
    if (!co_await wait(st == PGRES_POLLING_READING ? Wait::read : Wait::write, deadline)) {
      last_error_ = fmt::format("no connection within {} ms", timeout_.count());
      close();
      co_return false;
    }
    st = PQconnectPoll(conn_);
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  if (PQsetnonblocking(conn_, 1) != 0 || !adopt_socket()) {
    last_error_ = trimmed(PQerrorMessage(conn_));
    close();
    co_return false;
  }
  last_error_.clear();
  co_return true;
}

PgResult PgConnection::fail(std::string why) {
  last_error_ = why;
  if (conn_ != nullptr && PQstatus(conn_) != CONNECTION_OK) {
    close();
  }
  PgResult r;
  r.error = std::move(why);
  return r;
}

asio::awaitable<PgResult> PgConnection::exec(std::string sql, PgParams params) {
  auto self = shared_from_this();
  if (!up()) {
    co_return fail(last_error_.empty() ? "not connected" : last_error_);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  if (send(conn_, sql, params) == 0) {
    co_return fail(trimmed(PQerrorMessage(conn_)));
  }
  int f = 0;
  while ((f = PQflush(conn_)) == 1) {
    if (!co_await wait(Wait::write, deadline)) {
      close();  // a half-sent statement leaves the connection unusable
      co_return fail(fmt::format("no answer within {} ms", timeout_.count()));
    }
  }
  PgResult out;
  out.ok = true;
  for (;;) {
    bool consumed = PQconsumeInput(conn_) != 0;
    while (consumed && PQisBusy(conn_)) {
      if (!co_await wait(Wait::read, deadline)) {
        close();  // the answer would arrive later, to the next statement: start afresh
        co_return fail(fmt::format("no answer within {} ms", timeout_.count()));
      }
      consumed = PQconsumeInput(conn_) != 0;
    }
    if (f == -1 || !consumed) {
      co_return fail(trimmed(PQerrorMessage(conn_)));
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {
      break;
    }
    absorb(r, out);
    PQclear(r);
  }
  drain_notifications();
  co_return out;
}

void PgConnection::drain_notifications() {
  while (PGnotify* n = PQnotifies(conn_)) {
    notified_.emplace_back(n->relname);
    PQfreemem(n);
  }
}

asio::awaitable<std::optional<std::vector<std::string>>> PgConnection::notifications(
    std::chrono::milliseconds patience) {
  auto self = shared_from_this();
  if (!up() || PQconsumeInput(conn_) == 0) {
    fail(last_error_.empty() ? trimmed(conn_ ? PQerrorMessage(conn_) : "not connected") : last_error_);
    co_return std::nullopt;
  }
  drain_notifications();
  if (notified_.empty() &&
      co_await wait(Wait::read, std::chrono::steady_clock::now() + patience)) {
    if (PQconsumeInput(conn_) == 0) {
      fail(trimmed(PQerrorMessage(conn_)));
      co_return std::nullopt;
    }
    drain_notifications();
  }
  if (!up()) {
    co_return std::nullopt;
  }
  co_return std::exchange(notified_, {});
}

// ---- PgBlocking ----

std::unique_ptr<PgBlocking> PgBlocking::connect(const std::string& url, int timeout_s,
                                                std::string& error) {
  // Defaults first: what the URL says wins. A peer that vanished is noticed within seconds
  // (TCP keepalives, and a limit on unacknowledged data), not after the kernel's quarter hour.
  const std::string t = std::to_string(timeout_s);
  const std::string user_timeout = std::to_string(timeout_s * 5000);
  const char* keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "dbname", nullptr};
  const char* vals[] = {t.c_str(), "5", "2", "3", user_timeout.c_str(), url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, 1);
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
    error = fmt::format("cannot connect to {}: {}", redact_password(url),
                        c != nullptr ? trimmed(PQerrorMessage(c)) : "out of memory");
    PQfinish(c);
    return nullptr;
  }
  PQsetNoticeProcessor(c, ignore_notice, nullptr);
  return std::unique_ptr<PgBlocking>(new PgBlocking(c));
}

std::unique_ptr<PgBlocking> PgBlocking::connect(const std::string& url, int timeout_s,
                                                const std::string& schema, std::string_view what,
                                                std::string& error) {
  auto pg = connect(url, timeout_s, error);
  if (!pg) {
    return nullptr;
  }
  if (auto r = pg->exec(schema); !r.ok) {
    error = fmt::format("cannot set up the {} {}: {}", what, redact_password(url), r.error);
    return nullptr;
  }
  return pg;
}

PgBlocking::~PgBlocking() { PQfinish(conn_); }

PgResult PgBlocking::exec(const std::string& sql, const PgParams& params) {
  PgResult out;
  out.ok = true;
  if (send(conn_, sql, params) == 0) {
    out.ok = false;
    out.error = trimmed(PQerrorMessage(conn_));
    return out;
  }
  while (PGresult* r = PQgetResult(conn_)) {
    absorb(r, out);
    PQclear(r);
  }
  if (PQstatus(conn_) != CONNECTION_OK && out.ok) {
    out.ok = false;
    out.error = trimmed(PQerrorMessage(conn_));
  }
  return out;
}

}  // namespace mcpgw::store
