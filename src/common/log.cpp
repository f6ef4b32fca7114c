#include "common/log.hpp"

#include "common/text.hpp"

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

#include <charconv>
#include <ctime>
#include <thread>

namespace mcpgw::log {

namespace {

constexpr std::string_view kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v";
constexpr std::size_t kAccessQueue = 8192;  ///< access lines waiting for the writer thread

std::shared_ptr<spdlog::logger> g_access;  // set by init, read on the loop
Format g_format = Format::text;
bool g_access_on = true;

/// "2026-12-02T04:10:00.123+00:00": local time with its offset, cached per second.
void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;  // up to the seconds
  thread_local std::string zone;    // "+HH:MM"
  const auto since = t.time_since_epoch();
  const std::time_t sec = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  if (sec != cached_second) {
    std::tm tm{};
    localtime_r(&sec, &tm);
    cached = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const long off = tm.tm_gmtoff / 60;
    zone = fmt::format("{}{:02}:{:02}", off < 0 ? '-' : '+', std::labs(off) / 60,
                       std::labs(off) % 60);
    cached_second = sec;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000;
  out += cached;
  fmt::format_to(std::back_inserter(out), ".{:03}", ms);
  out += zone;
}

/// {"ts": …, "level": …, "msg": …}; an access line's fields are already JSON members.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(96 + msg.payload.size());
    line += R"({"ts":")";
    append_time(line, msg.time);
    line += R"(","level":")";
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (std::string_view(msg.logger_name.data(), msg.logger_name.size()) == "access") {
      line += R"(","log":"access",)";
      line += payload;
    } else {
      line += R"(","msg":)";
      append_json_string(line, payload);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

/// A field of a text access line and a space: "-" when empty, at most 200 bytes, control
/// characters and spaces as '?' (a name a client sent cannot break or fake a line).
void append_word(std::string& out, std::string_view v) {
  if (v.empty()) {
    out += "- ";
    return;
  }
  const std::size_t start = out.size();
  out += v.substr(0, 200);
  for (std::size_t i = start; i < out.size(); ++i) {
    const auto u = static_cast<unsigned char>(out[i]);
    if (u <= 0x20 || u == 0x7F) {
      out[i] = '?';
    }
  }
  out += ' ';
}

/// A field the gateway made (no spaces or control characters in it) and a space.
void append_plain(std::string& out, std::string_view v) {
  out += v.empty() ? std::string_view("-") : v;
  out += ' ';
}

void append_uint(std::string& out, std::uint64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

/// Microseconds as milliseconds with three decimals ("12.345").
void append_ms(std::string& out, std::uint64_t us) {
  append_uint(out, us / 1000);
  const auto frac = static_cast<unsigned>(us % 1000);
  const char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                          static_cast<char>('0' + frac / 10 % 10), static_cast<char>('0' + frac % 10)};
  out.append(digits, 4);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      out += n == 0 ? std::string_view("\xEF\xBF\xBD") : s.substr(i, n);
      i += n == 0 ? 1 : n;
      continue;
    }
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20 || ch == 0x7F) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", ch);
        } else {
          out += static_cast<char>(ch);
        }
    }
    ++i;
  }
  out += '"';
}

std::optional<Format> parse_format(std::string_view name) {
  if (name == "text") {
    return Format::text;
  }
  if (name == "json") {
    return Format::json;
  }
  return std::nullopt;
}

bool init(std::string_view level, Format format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return false;
  }
  spdlog::drop_all();
  g_format = format;
  // One sink for both loggers: their lines never interleave mid-line.
  spdlog::sink_ptr sink;
  if (format == Format::json) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(std::string(kTextPattern)));
  }
  auto logger = std::make_shared<spdlog::logger>("mcpgw", sink);
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  if (!spdlog::thread_pool()) {
    spdlog::init_thread_pool(kAccessQueue, 1);
  }
  g_access = std::make_shared<spdlog::async_logger>(
      "access", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  g_access->set_level(lvl);
  return true;
}

void set_access_log(bool on) { g_access_on = on; }

bool access_enabled() noexcept {
  return g_access_on && g_access && g_access->should_log(spdlog::level::info);
}

void access(const Access& a) {
  std::string line;
  line.reserve(192 + a.target.size());
  if (g_format == Format::json) {
    const std::pair<std::string_view, std::string_view> fields[] = {
        {"\"request_id\":", a.request_id}, {",\"principal\":", a.principal},
        {",\"session\":", a.session},      {",\"method\":", a.method},
        {",\"target\":", a.target},        {",\"server\":", a.server},
        {",\"outcome\":", a.outcome}};
    for (const auto& [name, value] : fields) {
      line += name;
      append_json_string(line, value);
    }
    line += ",\"latency_ms\":";
    append_ms(line, a.latency_us);
    line += ",\"bytes_out\":";
    append_uint(line, a.bytes_out);
  } else {
    // What a client named is shown, not obeyed: no line breaks or escapes reach the terminal.
    // The request id (checked or made), session id, server and outcome are the gateway's own
    // words; the rest is looked at byte by byte.
    line += "access ";
    append_plain(line, a.request_id);
    append_word(line, a.method);
    append_word(line, a.target);
    line += "-> ";
    append_plain(line, a.server);
    append_plain(line, a.outcome);
    append_ms(line, a.latency_us);
    line += " ms ";
    append_uint(line, a.bytes_out);
    line += " B principal=";
    append_word(line, a.principal);
    line += "session=";
    line += a.session.empty() ? std::string_view("-") : a.session;
  }
  g_access->info(std::string_view(line));
}

std::uint64_t access_dropped() {
  const auto pool = spdlog::thread_pool();
  return pool ? pool->overrun_counter() : 0;
}

void flush() {
  const auto pool = spdlog::thread_pool();
  if (!pool) {
    return;
  }
  // Bounded: a stderr nobody reads must not hold the exit.
  for (int i = 0; i < 200 && pool->queue_size() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace mcpgw::log
