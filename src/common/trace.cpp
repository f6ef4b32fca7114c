#include "common/trace.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/text.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <random>

namespace mcpgw::trace {

namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& out) {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      const std::uint64_t r = rng()();
      for (std::size_t j = 0; j < 8 && i + j < N; ++j) {
        out[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
      }
    }
  } while (out == std::array<std::uint8_t, N>{});  // all zero is invalid
}

int lower_hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) {
    return false;
  }
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = lower_hex_digit(text[2 * i]);
    const int lo = lower_hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out != std::array<std::uint8_t, N>{};
}

}  // namespace

std::optional<Context> parse_traceparent(std::string_view v) {
  // version "00" is exactly 55 characters; a later version may append fields after a '-'.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' ||
      (v.size() > 55 && (v.substr(0, 2) == "00" || v[55] != '-')) || v.substr(0, 2) == "ff") {
    return std::nullopt;
  }
  Context ctx;
  // The version and flags are read digit by digit: parse_hex refuses all-zero bytes, and a
  // version or flags of 00 is valid.
  if (lower_hex_digit(v[0]) < 0 || lower_hex_digit(v[1]) < 0 || !parse_hex(v.substr(3, 32), ctx.trace) ||
      !parse_hex(v.substr(36, 16), ctx.span) || lower_hex_digit(v[53]) < 0 || lower_hex_digit(v[54]) < 0) {
    return std::nullopt;
  }
  ctx.sampled = (lower_hex_digit(v[54]) & 1) != 0;  // the flags' low bit
  return ctx;
}

std::string format_traceparent(const Context& ctx) {
  std::string out = "00-";
  out += to_hex(ctx.trace.data(), ctx.trace.size());
  out += '-';
  out += to_hex(ctx.span.data(), ctx.span.size());
  out += ctx.sampled ? "-01" : "-00";
  return out;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Tracer& Tracer::instance() {
  static Tracer t;
  return t;
}

void Tracer::configure(double ratio, std::size_t queue, std::size_t batch) {
  on_ = true;
  limit_ = queue;
  batch_ = batch;
  const double r = std::clamp(ratio, 0.0, 1.0);
  threshold_ = r >= 1.0 ? UINT64_MAX : static_cast<std::uint64_t>(std::ldexp(r, 64));
}

bool Tracer::sample_root() {
  return threshold_ == UINT64_MAX || (threshold_ != 0 && rng()() < threshold_);
}

Context Tracer::sampled_root() {
  Context ctx;
  fill_random(ctx.trace);
  fill_random(ctx.span);
  ctx.sampled = true;
  return ctx;
}

Context Tracer::child_of(const Context& parent) {
  Context ctx;
  ctx.trace = parent.trace;
  ctx.sampled = parent.sampled;
  fill_random(ctx.span);
  return ctx;
}

void Tracer::record(Span span) {
  if (queue_.size() >= limit_) {
    count_dropped("queue_full", 1);
    return;
  }
  queue_.push_back(std::move(span));
  if (queue_.size() == batch_ && on_batch_) {
    on_batch_();
  }
}

std::vector<Span> Tracer::take(std::size_t max) {
  std::vector<Span> out;
  const std::size_t n = std::min(max, queue_.size());
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

void count_dropped(std::string_view reason, std::size_t n) {
  static auto& family = metrics::registry().counter(
      "mcpgw_trace_spans_dropped_total", "Spans that never reached the collector, by why",
      {"reason"});
  family.at({reason}).inc(n);
}

namespace {

void append_attribute(std::string& out, const std::string& key, const Value& value) {
  out += "{\"key\":";
  log::append_json_string(out, key);
  out += ",\"value\":{";
  if (const auto* s = std::get_if<std::string>(&value)) {
    out += "\"stringValue\":";
    log::append_json_string(out, *s);
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    fmt::format_to(std::back_inserter(out), "\"intValue\":\"{}\"", *i);
  } else {
    out += std::get<bool>(value) ? "\"boolValue\":true" : "\"boolValue\":false";
  }
  out += "}}";
}

void append_span(std::string& out, const Span& s) {
  out += "{\"traceId\":\"" + to_hex(s.ctx.trace.data(), 16) + "\",\"spanId\":\"" +
         to_hex(s.ctx.span.data(), 8) + "\"";
  if (s.parent) {
    out += ",\"parentSpanId\":\"" + to_hex(s.parent->data(), 8) + "\"";
  }
  out += ",\"name\":";
  log::append_json_string(out, s.name);
  fmt::format_to(std::back_inserter(out),
                 ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
                 static_cast<int>(s.kind), s.start_ns, s.end_ns);
  out += ",\"attributes\":[";
  for (std::size_t i = 0; i < s.attributes.size(); ++i) {
    if (i > 0) out += ',';
    append_attribute(out, s.attributes[i].first, s.attributes[i].second);
  }
  out += "],\"status\":{";
  if (s.error) {
    out += "\"code\":2,\"message\":";
    log::append_json_string(out, s.status);
  }
  out += "}}";
}

}  // namespace

std::string to_otlp_json(const std::vector<Span>& spans, std::string_view service,
                         std::string_view version) {
  std::string out = R"({"resourceSpans":[{"resource":{"attributes":[)";
  append_attribute(out, "service.name", std::string(service));
  out += ',';
  append_attribute(out, "service.version", std::string(version));
  out += R"(]},"scopeSpans":[{"scope":{"name":"mcpgw","version":)";
  log::append_json_string(out, version);
  out += R"(},"spans":[)";
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out += ',';
    append_span(out, spans[i]);
  }
  out += "]}]}]}";
  return out;
}

}  // namespace mcpgw::trace
