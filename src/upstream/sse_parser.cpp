#include "upstream/sse_parser.hpp"

namespace mcpgw::upstream {

bool SseParser::field() {
  std::string_view line = line_;
  if (!bom_checked_) {
    bom_checked_ = true;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") {
      line.remove_prefix(3);
    }
  }
  if (line.empty()) {
    return true;  // the line held only the byte order mark
  }
  if (line.front() == ':') {
    return true;  // a comment (keep-alive)
  }
  std::string_view name = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (name == "data") {
    if (data_.size() + value.size() + 1 > max_) {
      return false;
    }
    if (has_data_) {
      data_.push_back('\n');
    }
    data_.append(value);
    has_data_ = true;
  } else if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_id_.assign(value);
    }
  } else if (name == "retry") {
    std::uint64_t ms = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      ms = ms * 10 + static_cast<unsigned>(c - '0');
      if (ms > UINT32_MAX) {
        digits = false;
        break;
      }
    }
    if (digits) {
      retry_ = static_cast<std::uint32_t>(ms);
      event_retry_ = retry_;
    }
  }
  return true;  // other fields are ignored, as the spec says
}

SseEvent SseParser::take() {
  SseEvent e;
  if (!type_.empty()) {
    e.type = std::move(type_);
  }
  e.data = std::move(data_);
  e.id = last_id_;
  e.retry_ms = event_retry_;
  reset_event();
  return e;
}

void SseParser::reset_event() {
  data_.clear();
  type_.clear();
  has_data_ = false;
  event_retry_.reset();
}

}  // namespace mcpgw::upstream
