#include "upstream/redis.hpp"

#include "common/event.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace mcpgw::upstream {

namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = r->type == REDIS_REPLY_STRING   ? RedisReply::Type::string
                 : r->type == REDIS_REPLY_STATUS ? RedisReply::Type::status
                                                 : RedisReply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;  // nil
  }
  return out;
}

}  // namespace

/// A reply being waited for. hiredis holds a heap copy of the pointer until it calls back
/// (with the reply, or with none when the connection is lost or freed).
struct Redis::Pending {
  explicit Pending(asio::any_io_executor ex) : done(std::move(ex)) {}
  Event done;
  std::optional<RedisReply> reply;
};

/// hiredis's event hooks: watch its socket for reading and writing, and let it do both.
struct Redis::Watcher : std::enable_shared_from_this<Redis::Watcher> {
  Watcher(asio::any_io_executor ex, redisAsyncContext* c) : sock(std::move(ex)), ac(c) {
    sock.assign(c->c.fd);
  }
  asio::posix::stream_descriptor sock;
  redisAsyncContext* ac;  ///< null once hiredis cleaned up (the socket is hiredis's to close)
  bool reading = false, writing = false, read_armed = false, write_armed = false;

  void arm(bool write) {
    bool& armed = write ? write_armed : read_armed;
    if (armed || ac == nullptr) return;
    armed = true;
    using W = asio::posix::descriptor_base::wait_type;
    sock.async_wait(write ? W::wait_write : W::wait_read,
                    [self = shared_from_this(), write](boost::system::error_code ec) {
      (write ? self->write_armed : self->read_armed) = false;
      const bool wanted = write ? self->writing : self->reading;
      if (ec || self->ac == nullptr || !wanted) return;
      if (write) {
        redisAsyncHandleWrite(self->ac);  // may clean up: ac is then null
      } else {
        redisAsyncHandleRead(self->ac);
      }
      if (write ? self->writing : self->reading) self->arm(write);
    });
  }

  static Watcher& of(void* p) { return *static_cast<Watcher*>(p); }
  static void add_read(void* p) { of(p).reading = true; of(p).arm(false); }
  static void del_read(void* p) { of(p).reading = false; }
  static void add_write(void* p) { of(p).writing = true; of(p).arm(true); }
  static void del_write(void* p) { of(p).writing = false; }
  static void cleanup(void* p) {
    Watcher& w = of(p);
    w.ac = nullptr;
    w.reading = w.writing = false;
    w.sock.release();  // cancels the waits; hiredis closes the socket
  }
};

std::shared_ptr<Redis> Redis::create(asio::any_io_executor ex, RedisOptions options) {
  return std::shared_ptr<Redis>(new Redis(std::move(ex), std::move(options)));
}

Redis::Redis(asio::any_io_executor ex, RedisOptions options)
    : ex_(std::move(ex)), options_(std::move(options)) {}

Redis::~Redis() {
  if (ctx_ != nullptr) {
    ctx_->data = nullptr;  // its callbacks must not come back to this object
    redisAsyncFree(ctx_);
  }
}

void Redis::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Redis*>(ac->data);
  if (self == nullptr) return;
  self->connected_ = status == REDIS_OK;
  if (!self->connected_) {
    self->ctx_ = nullptr;  // hiredis frees it after this call
    self->last_error_ = ac->errstr[0] != '\0' ? ac->errstr : "connect failed";
  }
  if (self->connect_wait_) self->connect_wait_->done.set();
}

void Redis::on_disconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Redis*>(ac->data);
  if (self == nullptr) return;
  self->ctx_ = nullptr;  // hiredis frees it after this call
  self->lost(status == REDIS_OK ? "connection closed" : ac->errstr);
}

void Redis::lost(std::string why) {
  if (connected_) {
    spdlog::warn("redis {}:{}: {}", options_.host, options_.port, why);
  }
  connected_ = false;
  last_error_ = std::move(why);
}

asio::awaitable<bool> Redis::connect() {
  asio::ip::tcp::resolver resolver(ex_);
  auto [ec, found] = co_await resolver.async_resolve(
      options_.host, std::to_string(options_.port), asio::as_tuple(asio::use_awaitable));
  if (ec || found.empty()) {
    lost(fmt::format("cannot resolve {}: {}", options_.host, ec.message()));
    co_return false;
  }
  const std::string ip = found.begin()->endpoint().address().to_string();
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), options_.port);  // does not block
  if (ac == nullptr || ac->err != 0) {
    lost(ac != nullptr ? ac->errstr : "out of memory");
    if (ac != nullptr) redisAsyncFree(ac);
    co_return false;
  }
  ac->data = this;
  watcher_ = std::make_shared<Watcher>(ex_, ac);
  ac->ev.data = watcher_.get();
  ac->ev.addRead = &Watcher::add_read;
  ac->ev.delRead = &Watcher::del_read;
  ac->ev.addWrite = &Watcher::add_write;
  ac->ev.delWrite = &Watcher::del_write;
  ac->ev.cleanup = &Watcher::cleanup;
  redisAsyncSetConnectCallback(ac, &Redis::on_connect);
  redisAsyncSetDisconnectCallback(ac, &Redis::on_disconnect);
  ctx_ = ac;
  connect_wait_ = std::make_shared<Pending>(ex_);
  auto wait = connect_wait_;
  Watcher::add_write(watcher_.get());  // the connect completes when the socket is writable
  const bool answered = co_await wait->done.wait_until(Clock::now() + options_.timeout);
  connect_wait_.reset();
  if (!answered && ctx_ != nullptr) {
    ctx_->data = nullptr;
    redisAsyncFree(ctx_);
    ctx_ = nullptr;
    lost(fmt::format("no connection within {} ms",
                     options_.timeout.count()));
  }
  co_return connected_;
}

asio::awaitable<bool> Redis::ensure_connected() {
  if (up()) co_return true;
  if (connecting_) {  // another command is connecting: wait for it
    auto wait = connect_wait_;
    if (wait) co_await wait->done.wait_until(Clock::now() + options_.timeout);
    co_return up();
  }
  connecting_ = true;
  bool ok = co_await connect();
  if (ok && !options_.password.empty()) {
    const std::vector<std::string> auth{"AUTH", options_.password};
    auto r = co_await send(auth);
    ok = r && r->type != RedisReply::Type::error;
    if (!ok) lost(r ? "AUTH refused: " + r->str : "AUTH: " + r.error().message());
  }
  if (ok && options_.db != 0) {
    const std::vector<std::string> select{"SELECT", std::to_string(options_.db)};
    auto r = co_await send(select);
    ok = r && r->type != RedisReply::Type::error;
    if (!ok) lost(r ? "SELECT refused: " + r->str : "SELECT: " + r.error().message());
  }
  connecting_ = false;
  if (ok) {
    last_error_.clear();
    spdlog::info("redis {}:{}: connected", options_.host, options_.port);
  }
  co_return ok && up();
}

asio::awaitable<boost::system::result<RedisReply>> Redis::send(
    const std::vector<std::string>& argv) {
  if (ctx_ == nullptr) {
    co_return boost::system::error_code(asio::error::not_connected);
  }
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto pending = std::make_shared<Pending>(ex_);
  auto* held = new std::shared_ptr<Pending>(pending);
  auto done = [](redisAsyncContext*, void* r, void* privdata) {
    std::unique_ptr<std::shared_ptr<Pending>> p(static_cast<std::shared_ptr<Pending>*>(privdata));
    if (r != nullptr) (*p)->reply = convert(static_cast<redisReply*>(r));
    (*p)->done.set();
  };
  if (redisAsyncCommandArgv(ctx_, done, held, static_cast<int>(args.size()), args.data(),
                            lens.data()) != REDIS_OK) {
    delete held;
    co_return boost::system::error_code(asio::error::not_connected);
  }
  co_await pending->done.wait_until(Clock::now() + options_.timeout);
  if (!pending->done.is_set()) {
    co_return boost::system::error_code(asio::error::timed_out);
  }
  if (!pending->reply) {
    co_return boost::system::error_code(asio::error::connection_reset);
  }
  co_return std::move(*pending->reply);
}

asio::awaitable<boost::system::result<RedisReply>> Redis::command(std::vector<std::string> argv) {
  auto self = shared_from_this();
  if (!co_await ensure_connected()) {
    co_return boost::system::error_code(asio::error::not_connected);
  }
  co_return co_await send(argv);
}

std::optional<RedisOptions> parse_redis_url(std::string_view url, std::string& error) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "redis" || u->host().empty()) {
    error = "expected redis://[:password@]host[:port][/db]";
    return std::nullopt;
  }
  RedisOptions o;
  o.host = u->host();
  if (u->has_port()) {
    if (u->port_number() == 0) {
      error = "the port must be 1 to 65535";
      return std::nullopt;
    }
    o.port = u->port_number();
  }
  if (u->has_password()) o.password = u->password();
  std::string_view path = u->encoded_path();
  if (!path.empty() && path != "/") {
    path.remove_prefix(1);
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), o.db);
    if (ec != std::errc() || end != path.data() + path.size() || o.db < 0) {
      error = "the database must be a number (redis://host:6379/0)";
      return std::nullopt;
    }
  }
  return o;
}

}  // namespace mcpgw::upstream
