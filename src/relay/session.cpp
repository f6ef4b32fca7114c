#include "relay/session.hpp"
#include "access/authenticator.hpp"
#include "relay/shared_events.hpp"

#include "relay/relay.hpp"

#include <algorithm>

namespace mcpgw::relay {

namespace {
constexpr std::size_t kMaxRetainedStreams = 64;
}

Session::Session(asio::any_io_executor ex, std::string id_, SessionSpec spec, std::size_t replay)
    : id(std::move(id_)),
      transport(spec.transport),
      view(std::move(spec.view)),
      whole_view(spec.whole_view),
      single_server(spec.single_server),
      endpoint(std::move(spec.endpoint)),
      owner(std::move(spec.owner)),
      principal(std::move(spec.principal)),
      scope_name(std::move(spec.scope_name)),
      authorization(std::move(spec.authorization)),
      passed_headers(std::move(spec.passed_headers)),
      caller_token(std::make_shared<std::string>(access::bearer_value(authorization))),
      last_active(Clock::now()),
      // Until initialize says otherwise: the oldest revision each transport was made for.
      protocol_version_(transport == ClientTransport::legacy_sse ? "2024-11-05" : "2025-03-26"),
      ex_(ex),
      replay_(replay),
      standalone_(std::make_shared<EventStream>(ex, 0, replay, true)) {
  streams_[0] = standalone_;
}

void Session::negotiate(std::string version, json::object capabilities, json::object info) {
  protocol_version_ = std::move(version);
  client_capabilities_ = std::move(capabilities);
  client_info_ = std::move(info);
}

json::object Session::answerable(const json::object& capabilities) {
  json::object caps;
  for (const char* cap : {"roots", "sampling", "elicitation"}) {
    if (const auto* v = capabilities.if_contains(cap)) {
      caps[cap] = *v;
    }
  }
  return caps;
}

Session::~Session() = default;

std::shared_ptr<EventStream> Session::new_request_stream(bool sse_ok) {
  return std::make_shared<EventStream>(ex_, next_stream_++, replay_, sse_ok);
}

void Session::register_stream(const std::shared_ptr<EventStream>& stream) {
  prune_streams();
  streams_.emplace(stream->number, stream);
  if (events_ && stream != standalone_) {
    events_->mirror(id, *stream);  // sent as SSE: another replica may be asked to resume it
  }
}

void Session::share_events(std::shared_ptr<SharedEvents> events) {
  events_ = std::move(events);
  events_->mirror(id, *standalone_);
}

std::shared_ptr<EventStream> Session::find_stream(std::uint64_t number) const {
  auto it = streams_.find(number);
  return it == streams_.end() ? nullptr : it->second;
}

void Session::prune_streams() {
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->first != 0 && it->second->drained() && !it->second->attached()) {
      it = streams_.erase(it);
    } else {
      ++it;
    }
  }
  // Bounded: the oldest request streams go first.
  while (streams_.size() > kMaxRetainedStreams) {
    auto victim = std::next(streams_.begin());
    victim->second->finish();
    streams_.erase(victim);
  }
}

bool Session::has_attached_stream() const noexcept {
  return std::any_of(streams_.begin(), streams_.end(),
                     [](const auto& kv) { return kv.second->attached(); });
}

bool Session::in_view(std::string_view server) const noexcept {
  return std::find(view.begin(), view.end(), server) != view.end();
}

}  // namespace mcpgw::relay
