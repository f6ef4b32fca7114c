#pragma once
// The span exporter: every flushMs (or as soon as a batch's worth waits) the queued spans go to
// gateway.tracing.endpoint as OTLP/HTTP JSON, one request at a time, on the event loop. A
// collector that is down or refuses costs the batch (dropped and counted), never a wait for
// a client. On stop, what is queued gets one last, bounded, try.
#include "config/config.hpp"
#include "upstream/http_client.hpp"

#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace mcpgw::upstream {

class OtlpExporter : public std::enable_shared_from_this<OtlpExporter> {
 public:
  /// Null (with `error`) when the endpoint is not a URL it can send to.
  static std::shared_ptr<OtlpExporter> create(asio::any_io_executor ex,
                                              const config::TracingConfig& cfg,
                                              std::chrono::milliseconds connect_timeout,
                                              std::string& error);
  OtlpExporter(asio::any_io_executor ex, const config::TracingConfig& cfg, Url url,
               std::chrono::milliseconds connect_timeout);

  /// Turns the tracer on and starts sending.
  void start();
  /// Sends what is queued (bounded by `deadline`) and stops.
  asio::awaitable<void> stop(Clock::time_point deadline);

 private:
  asio::awaitable<void> run();
  /// Sends one batch; false when it was not accepted (then it is counted as dropped).
  asio::awaitable<bool> send(std::size_t spans, std::string body, Clock::time_point deadline);
  asio::awaitable<void> flush(Clock::time_point deadline);

  asio::any_io_executor ex_;
  config::TracingConfig cfg_;
  std::shared_ptr<HttpClient> client_;
  std::string target_;
  asio::steady_timer timer_;
  bool stopping_ = false;
  bool warned_ = false;  ///< a failure was logged (once until an export succeeds again)
};

}  // namespace mcpgw::upstream
