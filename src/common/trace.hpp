#pragma once
// Tracing: W3C trace context (`traceparent`) and the spans the gateway records, one per
// exchange (kind server) and one per call it makes to a server (kind client), named and
// attributed after OpenTelemetry's MCP semantic conventions. Spans wait in a bounded queue
// for the exporter (upstream/otlp_exporter), which sends them as OTLP/HTTP JSON; a full queue
// drops the new span and counts it. Loop thread only.
//
// Sampling: a request whose parent was sampled is sampled; one whose parent was not is not;
// one without a parent is sampled at gateway.tracing.sampleRatio. Nothing is recorded, and
// nothing costs more than a branch, when tracing is off.
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mcpgw::trace {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

/// One span's identity, as `traceparent` carries it.
struct Context {
  TraceId trace{};
  SpanId span{};
  bool sampled = false;
};

/// A `traceparent` value ("00-<32 hex>-<16 hex>-<2 hex>"), or nullopt when it is not one (an
/// all-zero id, another version's shape, upper-case hex).
std::optional<Context> parse_traceparent(std::string_view value);
/// `ctx` as a traceparent value (version 00).
std::string format_traceparent(const Context& ctx);

enum class Kind : int { server = 2, client = 3 };
using Value = std::variant<std::string, std::int64_t, bool>;

struct Span {
  Context ctx;
  std::optional<SpanId> parent;
  std::string name;
  Kind kind = Kind::server;
  std::int64_t start_ns = 0;  ///< Unix time
  std::int64_t end_ns = 0;
  bool error = false;
  std::string status;  ///< the error's description
  std::vector<std::pair<std::string, Value>> attributes;
};

/// Unix time in nanoseconds.
std::int64_t now_ns();

/// The process's spans on their way to the exporter.
class Tracer {
 public:
  static Tracer& instance();

  /// Turns recording on (ratio: of requests without a parent). Off until called.
  void configure(double ratio, std::size_t queue, std::size_t batch);
  bool on() const noexcept { return on_; }
  /// Turns recording off and forgets what is queued.
  void disable() noexcept {
    on_ = false;
    queue_.clear();
  }
  /// A new span's context in `parent`'s trace, following its decision.
  Context child_of(const Context& parent);
  /// The ratio's draw for a request without a parent (one random number, no ids made).
  bool sample_root();
  /// A new trace's first span, sampled (after sample_root() said so).
  Context sampled_root();
  /// Queues a finished span (dropped and counted when the queue is full).
  void record(Span span);
  /// Up to `max` queued spans, oldest first.
  std::vector<Span> take(std::size_t max);
  std::size_t queued() const noexcept { return queue_.size(); }
  /// Called when a batch's worth is waiting (the exporter sends at once).
  void on_batch(std::function<void()> f) { on_batch_ = std::move(f); }

 private:
  bool on_ = false;
  std::uint64_t threshold_ = 0;  ///< a root is sampled when a random draw is below it
  std::size_t limit_ = 0;
  std::size_t batch_ = 0;
  std::deque<Span> queue_;
  std::function<void()> on_batch_;
};

/// Counts spans that never reached a collector, by why ("queue_full", "export_failed").
void count_dropped(std::string_view reason, std::size_t n);

/// The OTLP/HTTP JSON body (an ExportTraceServiceRequest) of `spans`.
std::string to_otlp_json(const std::vector<Span>& spans, std::string_view service,
                         std::string_view version);

}  // namespace mcpgw::trace
