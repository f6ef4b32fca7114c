// The SSE parser: any bytes, split anywhere, give the same events as when fed at once, and
// never more data than its limit.
#include "upstream/sse_parser.hpp"

#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

struct Run {
  std::vector<mcpgw::upstream::SseEvent> events;
  bool ok = true;
};

Run feed(std::string_view text, std::size_t step) {
  constexpr std::size_t kLimit = 4096;
  mcpgw::upstream::SseParser p(kLimit);
  Run r;
  auto sink = [&](mcpgw::upstream::SseEvent&& e) {
    if (e.data.size() > kLimit) {
      std::abort();
    }
    r.events.push_back(std::move(e));
  };
  for (std::size_t i = 0; i < text.size() && r.ok; i += step) {
    r.ok = p.feed(text.substr(i, step), sink);
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t step = 1 + data[0] % 7;  // the first byte picks how the rest is split
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Run whole = feed(text, text.size() + 1);
  const Run split = feed(text, step);
  if (whole.ok != split.ok || whole.events.size() != split.events.size()) {
    std::abort();
  }
  for (std::size_t i = 0; i < whole.events.size(); ++i) {
    const auto& a = whole.events[i];
    const auto& b = split.events[i];
    if (a.type != b.type || a.data != b.data || a.id != b.id || a.retry_ms != b.retry_ms) {
      std::abort();
    }
  }
  return 0;
}
