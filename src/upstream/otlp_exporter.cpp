#include "upstream/otlp_exporter.hpp"

#include "common/metrics.hpp"
#include "common/trace.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {

void count_exported(std::size_t n) {
  static auto& family = metrics::registry().counter(
      "mcpgw_trace_spans_exported_total", "Spans the collector accepted", {});
  family.at({}).inc(n);
}

}  // namespace

std::shared_ptr<OtlpExporter> OtlpExporter::create(asio::any_io_executor ex,
                                                   const config::TracingConfig& cfg,
                                                   std::chrono::milliseconds connect_timeout,
                                                   std::string& error) {
  Url url;
  if (!parse_url(cfg.endpoint, url, error)) {
    error = "gateway.tracing.endpoint: " + error;
    return nullptr;
  }
  return std::make_shared<OtlpExporter>(std::move(ex), cfg, std::move(url), connect_timeout);
}

OtlpExporter::OtlpExporter(asio::any_io_executor ex, const config::TracingConfig& cfg, Url url,
                           std::chrono::milliseconds connect_timeout)
    : ex_(ex), cfg_(cfg), target_(url.target), timer_(ex) {
  TlsSettings tls;
  tls.ca_file = cfg.tls_ca_file;
  tls.insecure = cfg.tls_insecure;
  client_ = std::make_shared<HttpClient>(ex, std::move(url), std::move(tls), connect_timeout,
                                         "tracing");
}

void OtlpExporter::start() {
  auto& tracer = trace::Tracer::instance();
  tracer.configure(cfg_.sample_ratio, cfg_.queue, cfg_.batch);
  tracer.on_batch([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->timer_.cancel();  // a batch's worth waits: send now
    }
  });
  asio::co_spawn(ex_, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

asio::awaitable<void> OtlpExporter::run() {
  while (!stopping_) {
    timer_.expires_after(cfg_.flush);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) {
      break;
    }
    co_await flush(Clock::now() + cfg_.flush + std::chrono::seconds(10));
  }
}

asio::awaitable<void> OtlpExporter::flush(Clock::time_point deadline) {
  auto& tracer = trace::Tracer::instance();
  while (tracer.queued() > 0 && Clock::now() < deadline) {
    auto spans = tracer.take(cfg_.batch);
    const std::size_t n = spans.size();
    std::string body = trace::to_otlp_json(spans, cfg_.service_name, MCPGW_VERSION);
    spans.clear();
    if (!co_await send(n, std::move(body), deadline)) {
      break;  // the rest waits for the next flush (or is dropped when the queue fills)
    }
  }
}

asio::awaitable<bool> OtlpExporter::send(std::size_t spans, std::string body,
                                         Clock::time_point deadline) {
  HttpRequest req;
  req.method = http::verb::post;
  req.target = target_;
  req.headers.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : cfg_.headers) {
    req.headers.set(name, value);
  }
  req.body = std::move(body);
  boost::system::error_code ec;
  std::string error;
  bool connect_failed = false;
  auto resp = co_await client_->send(req, deadline, ec, error, connect_failed);
  std::string reply;
  bool read = false;
  if (resp) {  // (no co_await inside && with g++ 12)
    read = co_await resp->read_all(reply, 64 * 1024, deadline, ec);
  }
  const unsigned status = resp ? resp->status() : 0;
  if (read && status >= 200 && status < 300) {
    count_exported(spans);
    warned_ = false;
    co_return true;
  }
  trace::count_dropped("export_failed", spans);
  if (!warned_) {
    warned_ = true;
    spdlog::warn("tracing: {} span(s) dropped: {} {}", spans, client_->origin().display(),
                 status != 0 ? fmt::format("answered HTTP {}: {}", status, reply.substr(0, 200))
                             : error.empty() ? ec.message() : error);
  }
  co_return false;
}

asio::awaitable<void> OtlpExporter::stop(Clock::time_point deadline) {
  stopping_ = true;
  timer_.cancel();
  trace::Tracer::instance().on_batch({});
  co_await flush(deadline);
}

}  // namespace mcpgw::upstream
