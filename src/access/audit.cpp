#include "access/audit.hpp"

#include "access/audit_sink.hpp"
#include "access/key_store.hpp"
#include "access/principal.hpp"
#include "common/text.hpp"
#include "store/postgres.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace mcpgw::access {

namespace {
constexpr std::size_t kBatch = 512;
constexpr auto kLinger = std::chrono::milliseconds(50);

bool secret_name(std::string_view k) {
  const std::string name = lower(k);
  for (const char* s : {"password", "passwd", "secret", "token", "apikey", "api_key", "key",
                        "authorization", "cookie", "credential", "private"}) {
    if (name.find(s) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void redact(boost::json::value& v) {
  if (v.is_object()) {
    for (auto& kv : v.get_object()) {
      if (secret_name(kv.key())) {
        kv.value() = "[redacted]";
      } else {
        redact(kv.value());
      }
    }
  } else if (v.is_array()) {
    for (auto& item : v.get_array()) {
      redact(item);
    }
  }
}

void digest_arguments(AuditRecord& r) {
  if (r.args_text.empty()) {
    return;
  }
  r.args_digest = sha256_hex(r.args_text);
  if (r.keep_arguments) {
    r.arguments = redact_arguments(r.args_text);
  }
}

}  // namespace

void set_arguments(AuditRecord& r, std::string text, bool keep) {
  constexpr std::size_t kToWriterMax = 4096;
  r.bytes_in = static_cast<std::int64_t>(text.size());
  if (text.size() > kToWriterMax) {
    r.args_digest = sha256_hex(text);
    if (keep) {
      r.arguments = redact_arguments(text);
    }
    return;
  }
  r.args_text = std::move(text);
  r.keep_arguments = keep;
}

std::string redact_arguments(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) {
    return "[unparsable]";
  }
  redact(v);
  return boost::json::serialize(v);
}

std::unique_ptr<AuditLog> AuditLog::open(const AuditOptions& options, std::string& error) {
  auto log = std::unique_ptr<AuditLog>(new AuditLog());
  log->options_ = options;
  if (store::is_postgres_url(options.path)) {
    // Connected by the writer thread: a database that is down does not stop the start.
    log->sink_ = pg_audit_sink(options.path, options.replica);
    log->tail_pending_ = true;
  } else {
    log->sink_ = sqlite_audit_sink(options.path, error);
    if (!log->sink_) {
      return nullptr;
    }
    auto rows = log->sink_->newest(kTail);
    log->tail_.assign(std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
  }
  log->writer_ = std::thread([raw = log.get()] { raw->run(); });
  return log;
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_writer_.notify_all();
  if (writer_.joinable()) {
    writer_.join();
  }
  if (dropped_ > 0) {
    spdlog::warn("audit: {} row(s) were dropped because the queue was full", dropped_);
  }
  if (lost_ > 0) {
    spdlog::error("audit: {} row(s) were lost: the store could not take them before the end",
                  lost_);
  }
}

void AuditLog::record(std::unique_ptr<AuditRecord> r) {
  std::unique_lock lock(mu_);
  if (queue_.size() >= options_.queue) {
    if (!options_.block_when_full) {
      if (dropped_++ % 1000 == 0) {
        spdlog::warn("audit: queue full ({} rows); dropping rows ({} so far)", options_.queue,
                     dropped_);
      }
      return;
    }
    space_or_flushed_.wait(lock, [&] { return queue_.size() < options_.queue || stopping_; });
  }
  queue_.push_back(std::move(r));
  ++queued_total_;
  note_saturation();
  if (queue_.size() == 1 || queue_.size() >= kBatch) {
    wake_writer_.notify_one();
  }
}

bool AuditLog::flush(std::chrono::milliseconds patience) {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_total_;
  wake_writer_.notify_one();
  // Rows accepted so far are written (dropped ones were never accepted; lost ones were given
  // up on at the end).
  return space_or_flushed_.wait_for(lock, patience,
                                    [&] { return written_ + lost_ >= target || stopping_; }) &&
         written_ + lost_ >= target;
}

std::uint64_t AuditLog::written() const {
  std::lock_guard lock(mu_);
  return written_;
}

std::uint64_t AuditLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_ + lost_;
}

std::size_t AuditLog::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void AuditLog::note_saturation() noexcept {
  saturated_.store(options_.block_when_full && queue_.size() * 10 >= options_.queue * 9,
                   std::memory_order_relaxed);
}

std::string AuditLog::store_problem() const {
  std::lock_guard lock(mu_);
  return problem_;
}

bool AuditLog::write_until_done(const std::vector<AuditRecord>& batch) {
  auto pause = std::chrono::milliseconds(250);
  int last_tries = 1;
  for (;;) {
    std::string error;
    if (gave_up_) {  // stopping, and the store refused: the rest is not tried one by one
      std::lock_guard lock(mu_);
      lost_ += batch.size();
      return false;
    }
    if (sink_->write(batch, error)) {
      std::lock_guard lock(mu_);
      if (!problem_.empty()) {
        spdlog::info("audit: the store takes rows again ({} waiting)", queue_.size());
        problem_.clear();
      }
      return true;
    }
    std::unique_lock lock(mu_);
    if (problem_.empty()) {
      spdlog::error("audit: cannot write {} row(s), trying again: {}", batch.size(), error);
    }
    problem_ = error.empty() ? "the store refused the rows" : error;
    if (stopping_ && --last_tries < 0) {
      gave_up_ = true;
      lost_ += batch.size();
      spdlog::error("audit: {} row(s) could not be written before the end: {}", batch.size(),
                    problem_);
      return false;
    }
    wake_writer_.wait_for(lock, stopping_ ? std::chrono::milliseconds(200) : pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(5000));
  }
}

void AuditLog::run() {
  if (tail_pending_) {
    auto rows = sink_->newest(kTail);
    std::lock_guard lock(mu_);
    tail_.insert(tail_.begin(), std::make_move_iterator(rows.begin()),
                 std::make_move_iterator(rows.end()));
    while (tail_.size() > kTail) tail_.pop_front();
  }
  std::vector<AuditRecord> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_writer_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty() && stopping_) {
        break;
      }
      // Let a batch gather briefly: one transaction for many rows.
      if (queue_.size() < kBatch && !stopping_) {
        wake_writer_.wait_for(lock, kLinger, [&] { return queue_.size() >= kBatch || stopping_; });
      }
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(*queue_.front()));
        queue_.pop_front();
      }
      note_saturation();
    }
    space_or_flushed_.notify_all();
    for (auto& r : batch) {
      digest_arguments(r);
    }
    if (write_until_done(batch)) {
      std::lock_guard lock(mu_);
      written_ += batch.size();
      keep_tail(batch);
    }
    batch.clear();
    space_or_flushed_.notify_all();
  }
  space_or_flushed_.notify_all();
}

void AuditLog::keep_tail(std::vector<AuditRecord>& batch) {
  const std::size_t from = batch.size() > kTail ? batch.size() - kTail : 0;
  for (std::size_t i = from; i < batch.size(); ++i) {
    batch[i].args_text.clear();
    tail_.push_back(std::move(batch[i]));
  }
  while (tail_.size() > kTail) {
    tail_.pop_front();
  }
}

std::vector<AuditRecord> AuditLog::recent(std::size_t n) const {
  std::lock_guard lock(mu_);
  const std::size_t take = std::min(n, tail_.size());
  return {tail_.end() - static_cast<std::ptrdiff_t>(take), tail_.end()};
}

std::string audit_time(std::int64_t ms) {
  const auto t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

boost::json::object audit_json(const AuditRecord& r) {
  boost::json::object o;
  o["time"] = audit_time(r.ts_ms);
  o["ts_ms"] = r.ts_ms;
  o["principal"] = r.principal;
  o["session"] = r.session;
  o["client"] = r.client;
  o["server"] = r.server;
  o["method"] = r.method;
  o["target"] = r.target;
  o["args_digest"] = r.args_digest;
  if (!r.arguments.empty()) {
    o["arguments"] = r.arguments;
  }
  if (!r.replica.empty()) {
    o["replica"] = r.replica;
  }
  o["outcome"] = r.outcome;
  o["detail"] = r.detail;
  if (!r.upstream.empty()) {
    o["upstream"] = r.upstream;
  }
  o["latency_us"] = r.latency_us;
  o["bytes_in"] = r.bytes_in;
  o["bytes_out"] = r.bytes_out;
  return o;
}

std::optional<std::vector<AuditRecord>> query_audit(const std::string& store, const AuditQuery& q,
                                                    std::string& error) {
  return store::is_postgres_url(store) ? query_audit_pg(store, q, error)
                                       : query_audit_sqlite(store, q, error);
}

}  // namespace mcpgw::access
