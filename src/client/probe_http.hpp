#pragma once
// The probe's HTTP plumbing: one request at a time, each bounded by the step's deadline; replies
// read as JSON or as an event stream; one connection pool per origin. Failures come back as
// words in a Reply, never as exceptions.
#include "client/probe.hpp"
#include "upstream/sse_parser.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcpgw::client::probe_detail {

namespace json = boost::json;
using upstream::http::verb;
using Fields = std::vector<std::pair<std::string, std::string>>;

/// What came back for one request.
struct Reply {
  unsigned status = 0;          ///< 0: no HTTP answer, `error` says why
  bool connect_failed = false;  ///< the server could not be reached at all
  bool timed_out = false;       ///< no (complete) answer before the step's deadline
  boost::system::error_code ec;
  std::string error;            ///< why there is no (usable) answer, in words
  std::string content_type;
  std::string session_id;        ///< Mcp-Session-Id
  std::string www_authenticate;  ///< WWW-Authenticate
  std::string body;              ///< the body (bounded); empty for an event stream
  bool sse = false;              ///< the body was an event stream
  std::optional<json::object> message;  ///< the JSON-RPC response that answers the request

  bool refused() const noexcept { return status == 401 || status == 403; }
};

/// An open event stream: a POST's SSE reply or a GET stream. Closed when dropped.
class EventStream {
 public:
  explicit EventStream(upstream::HttpResponsePtr resp) : resp_(std::move(resp)) {}
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  /// The next event; nullopt when the stream ended or failed or the deadline passed (`error`
  /// says which, `timed_out` tells the last).
  asio::awaitable<std::optional<upstream::SseEvent>> next(Clock::time_point deadline,
                                                          std::string& error, bool& timed_out);
  /// Reads events until the JSON-RPC response with `id`, skipping the server's notifications
  /// and requests. Nullopt as for next().
  asio::awaitable<std::optional<json::object>> response(std::int64_t id,
                                                        Clock::time_point deadline,
                                                        std::string& error, bool& timed_out);

 private:
  upstream::HttpResponsePtr resp_;
  upstream::SseParser parser_{1 << 20};
  std::deque<upstream::SseEvent> ready_;
  bool failed_ = false;
};

/// The probe's HTTP client: the user's headers go to the probed origin only (never to an
/// authorization server elsewhere); every request ends by the step's deadline.
class Http {
 public:
  Http(asio::any_io_executor ex, const ProbeOptions& opts);

  /// Where the current step must end: a step's length from now, or the probe's end.
  Clock::time_point deadline() const;
  bool out_of_time() const { return Clock::now() >= end_; }
  std::chrono::milliseconds step() const noexcept { return opts_.step; }
  std::int64_t next_id() noexcept { return ++last_id_; }

  /// Sends a request and reads the response head. On success the response is open for its
  /// body; on failure it is null and the Reply says why.
  asio::awaitable<std::pair<Reply, upstream::HttpResponsePtr>> open(
      verb method, const upstream::Url& url, const Fields& extra, std::string body);
  /// A request whose body is read whole (up to 256 KiB).
  asio::awaitable<Reply> fetch(verb method, const upstream::Url& url, const Fields& extra,
                               std::string body = {});
  /// POSTs a JSON-RPC message and reads the reply: a JSON body, or an event stream up to the
  /// response to `msg` (when it has an id).
  asio::awaitable<Reply> rpc(const upstream::Url& url, const json::object& msg,
                             const Fields& extra);
  /// GETs `url` as an event stream: the reply and, when it is one, the open stream.
  asio::awaitable<std::pair<Reply, std::unique_ptr<EventStream>>> stream(
      const upstream::Url& url, const Fields& extra);

 private:
  std::shared_ptr<upstream::HttpClient> client_for(const upstream::Url& url);
  /// Reads the rest of `resp`'s body into `r` (bounded, by the step's deadline); false (with
  /// `r` saying why) when it could not.
  asio::awaitable<bool> read_body(Reply& r, upstream::HttpResponse& resp);

  asio::any_io_executor ex_;
  const ProbeOptions& opts_;
  Clock::time_point end_;
  std::int64_t last_id_ = 0;
  std::map<std::string, std::shared_ptr<upstream::HttpClient>> clients_;  ///< by origin
};

/// `text` cut to `max` characters (at a UTF-8 boundary) with "…", on one line.
std::string excerpt(std::string_view text, std::size_t max = 200);
/// The words of an error body: a JSON-RPC error, an OAuth-style {"error": …}, or the text.
std::string body_words(std::string_view body);
/// A short account of a JSON-RPC error object: "-32601 Method not found".
std::string rpc_error_text(const json::object& response);
/// A step's length for people: "5 s", "0.5 s".
std::string seconds_text(std::chrono::milliseconds d);
/// What a reply that is not a usable answer was, in words: "HTTP 404: Not found",
/// "no answer within 5 s", "cannot connect to …".
std::string failure_text(const Reply& r, std::chrono::milliseconds step);

}  // namespace mcpgw::client::probe_detail
