#include "client/probe_http.hpp"

#include "common/text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace mcpgw::client::probe_detail {

namespace {

constexpr std::size_t kBodyLimit = 256 * 1024;

/// "host:port" as a person would type it (brackets around IPv6).
std::string host_port(const upstream::Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", url.host, v6 ? "]" : "", url.port);
}

bool same_id(const json::value* v, std::int64_t id) {
  if (v == nullptr) {
    return false;
  }
  if (v->is_int64()) {
    return v->get_int64() == id;
  }
  if (v->is_uint64()) {
    return id >= 0 && v->get_uint64() == static_cast<std::uint64_t>(id);
  }
  return v->is_string() && v->get_string() == std::to_string(id);
}

/// The response to `id` in a parsed message or batch, if there is one.
std::optional<json::object> response_in(const json::value& v, std::int64_t id) {
  if (const auto* o = v.if_object()) {
    if (same_id(o->if_contains("id"), id) &&
        (o->contains("result") || o->contains("error"))) {
      return *o;
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& item : *a) {
      if (auto r = response_in(item, id)) {
        return r;
      }
    }
  }
  return std::nullopt;
}

/// The text of an HTML page (an error page of a web framework): its <head> and tags left out.
std::string html_text(std::string_view html) {
  const std::string low = lower(html);
  const auto head = low.find("<head");
  const auto head_end = low.find("</head>");
  std::string out;
  bool in_tag = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    if (head != std::string::npos && head_end != std::string::npos && i == head) {
      i = head_end + 6;  // past "</head>"
      continue;
    }
    if (html[i] == '<') {
      in_tag = true;
      out.push_back(' ');
    } else if (html[i] == '>') {
      in_tag = false;
    } else if (!in_tag) {
      out.push_back(html[i]);
    }
  }
  return out;
}

}  // namespace

std::string body_words(std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  const auto* o = ec ? nullptr : v.if_object();
  if (o != nullptr) {
    if (o->contains("jsonrpc") && o->contains("error")) {
      return rpc_error_text(*o);
    }
    const auto* err = o->if_contains("error");
    const auto* desc = o->if_contains("error_description");
    if (err != nullptr && err->is_string()) {
      return desc != nullptr && desc->is_string()
                 ? fmt::format("{}: {}", std::string_view(err->get_string()),
                               std::string_view(desc->get_string()))
                 : std::string(err->get_string());
    }
    if (const auto* m = o->if_contains("message"); m != nullptr && m->is_string()) {
      return excerpt(m->get_string());
    }
  }
  const auto start = body.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && body[start] == '<') {
    return excerpt(html_text(body));
  }
  return excerpt(body);
}

// ---------------------------------------------------------------------------------------------

EventStream::~EventStream() {
  if (resp_) {
    resp_->abort();  // a stream left open would hold the server's session
  }
}

asio::awaitable<std::optional<upstream::SseEvent>> EventStream::next(Clock::time_point deadline,
                                                                     std::string& error,
                                                                     bool& timed_out) {
  timed_out = false;
  while (ready_.empty() && !failed_) {
    std::string chunk;
    boost::system::error_code ec;
    const bool more = co_await resp_->read_some(chunk, deadline, ec);
    const bool fits = parser_.feed(chunk, [&](upstream::SseEvent&& e) {
      ready_.push_back(std::move(e));
    });
    if (!fits) {
      failed_ = true;
      error = "the stream sent an event larger than 1 MiB";
    } else if (!more) {
      failed_ = true;
      timed_out = Clock::now() >= deadline;
      error = ec ? fmt::format("the stream failed: {}", ec.message()) : "the stream ended";
    }
  }
  if (ready_.empty()) {
    co_return std::nullopt;
  }
  auto e = std::move(ready_.front());
  ready_.pop_front();
  co_return e;
}

asio::awaitable<std::optional<json::object>> EventStream::response(std::int64_t id,
                                                                   Clock::time_point deadline,
                                                                   std::string& error,
                                                                   bool& timed_out) {
  for (;;) {
    auto e = co_await next(deadline, error, timed_out);
    if (!e) {
      co_return std::nullopt;
    }
    boost::system::error_code ec;
    const json::value v = json::parse(e->data, ec);
    if (ec) {
      continue;  // not JSON (a priming event, say): not the answer
    }
    if (auto r = response_in(v, id)) {
      co_return r;
    }
  }
}

// ---------------------------------------------------------------------------------------------

Http::Http(asio::any_io_executor ex, const ProbeOptions& opts)
    : ex_(std::move(ex)), opts_(opts), end_(Clock::now() + opts.total) {}

Clock::time_point Http::deadline() const { return std::min(Clock::now() + opts_.step, end_); }

std::shared_ptr<upstream::HttpClient> Http::client_for(const upstream::Url& url) {
  auto& c = clients_[url.origin()];
  if (!c) {
    c = std::make_shared<upstream::HttpClient>(ex_, url, opts_.tls, opts_.step, "probe");
  }
  return c;
}

asio::awaitable<std::pair<Reply, upstream::HttpResponsePtr>> Http::open(
    verb method, const upstream::Url& url, const Fields& extra, std::string body) {
  if (out_of_time()) {
    Reply late;
    late.error = fmt::format("not tried: the probe's {} were used up", seconds_text(opts_.total));
    co_return std::pair{std::move(late), nullptr};
  }
  upstream::HttpRequest req;
  req.method = method;
  req.target = url.target;
  if (url.origin() == opts_.url.origin()) {
    for (const auto& [name, value] : opts_.headers) {
      req.headers.set(name, value);
    }
  }
  for (const auto& [name, value] : extra) {
    req.headers.set(name, value);
  }
  req.body = std::move(body);
  Reply r;
  const auto dl = deadline();
  auto resp = co_await client_for(url)->send(req, dl, r.ec, r.error, r.connect_failed);
  if (!resp) {
    r.timed_out = Clock::now() >= dl;
    if (r.connect_failed && r.ec == asio::error::connection_refused) {
      r.error = fmt::format("nothing listens on {} (connection refused)", host_port(url));
    }
    // The client's advice names the config's setting; here it is an option.
    if (const auto at = r.error.find("(set tls.caFile"); at != std::string::npos) {
      r.error = r.error.substr(0, at) + "(--ca-file trusts a private CA; --insecure skips the check)";
    }
    co_return std::pair{std::move(r), nullptr};
  }
  r.status = resp->status();
  r.content_type = resp->header(upstream::http::field::content_type);
  r.session_id = resp->header("mcp-session-id");
  r.www_authenticate = resp->header(upstream::http::field::www_authenticate);
  r.sse = resp->content_type_is("text/event-stream");
  co_return std::pair{std::move(r), std::move(resp)};
}

asio::awaitable<bool> Http::read_body(Reply& r, upstream::HttpResponse& resp) {
  const auto dl = deadline();
  const bool read = co_await resp.read_all(r.body, kBodyLimit, dl, r.ec);
  if (!read) {
    r.timed_out = Clock::now() >= dl;
    r.error = fmt::format("the reply's body could not be read: {}", r.ec.message());
  }
  co_return read;
}

asio::awaitable<Reply> Http::fetch(verb method, const upstream::Url& url, const Fields& extra,
                                   std::string body) {
  auto [r, resp] = co_await open(method, url, extra, std::move(body));
  if (!resp) {
    co_return r;
  }
  if (r.sse) {
    resp->abort();  // an event stream has no end to wait for
    co_return r;
  }
  co_await read_body(r, *resp);
  co_return r;
}

asio::awaitable<Reply> Http::rpc(const upstream::Url& url, const json::object& msg,
                                 const Fields& extra) {
  Fields h{{"Content-Type", "application/json"},
           {"Accept", "application/json, text/event-stream"}};
  h.insert(h.end(), extra.begin(), extra.end());
  const auto* id = msg.if_contains("id");
  auto [r, resp] = co_await open(verb::post, url, h, json::serialize(msg));
  if (!resp) {
    co_return r;
  }
  if (r.sse && r.status < 300) {
    if (id != nullptr) {
      EventStream s(std::move(resp));
      r.message = co_await s.response(id->as_int64(), deadline(), r.error, r.timed_out);
      if (!r.message && !r.timed_out) {
        r.error = fmt::format("no response on its event stream ({})", r.error);
      }
    } else {
      resp->abort();
    }
    co_return r;
  }
  const bool read = co_await read_body(r, *resp);
  if (!read) {
    co_return r;
  }
  if (id != nullptr) {
    boost::system::error_code ec;
    const json::value v = json::parse(r.body, ec);
    if (!ec) {
      r.message = response_in(v, id->as_int64());
    }
  }
  co_return r;
}

asio::awaitable<std::pair<Reply, std::unique_ptr<EventStream>>> Http::stream(
    const upstream::Url& url, const Fields& extra) {
  Fields h{{"Accept", "text/event-stream"}};
  h.insert(h.end(), extra.begin(), extra.end());
  auto [r, resp] = co_await open(verb::get, url, h, {});
  if (!resp) {
    co_return std::pair{std::move(r), nullptr};
  }
  if (r.status == 200 && r.sse) {
    co_return std::pair{std::move(r), std::make_unique<EventStream>(std::move(resp))};
  }
  co_await read_body(r, *resp);
  co_return std::pair{std::move(r), nullptr};
}

// ---------------------------------------------------------------------------------------------

std::string excerpt(std::string_view text, std::size_t max) {
  std::string out;
  bool space = false;
  for (char c : text) {
    const bool blank = c == '\r' || c == '\n' || c == '\t' || c == ' ';
    if (blank) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    out.push_back(c);
  }
  if (out.size() <= max) {
    return out;
  }
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
    --cut;  // not inside a UTF-8 sequence
  }
  out.resize(cut);
  return out + "…";
}

std::string rpc_error_text(const json::object& response) {
  const auto* e = response.if_contains("error");
  const auto* err = e != nullptr ? e->if_object() : nullptr;
  if (err == nullptr) {
    return "an error without details";
  }
  const auto* code = err->if_contains("code");
  const auto* message = err->if_contains("message");
  return fmt::format("{}{}{}", code != nullptr && code->is_int64() ? code->get_int64() : 0,
                     message != nullptr && message->is_string() ? " " : "",
                     message != nullptr && message->is_string()
                         ? excerpt(message->get_string(), 160)
                         : std::string());
}

std::string seconds_text(std::chrono::milliseconds d) {
  return fmt::format("{:g} s", static_cast<double>(d.count()) / 1000.0);
}

std::string failure_text(const Reply& r, std::chrono::milliseconds step) {
  if (r.timed_out) {
    return fmt::format("no answer within {}", seconds_text(step));
  }
  if (r.status == 0) {
    return r.error;
  }
  if (r.status >= 300) {
    std::string words = excerpt(body_words(r.body), 120);
    while (!words.empty() && words.back() == '.') {
      words.pop_back();  // the caller may go on after a colon
    }
    return words.empty() ? fmt::format("HTTP {}", r.status)
                         : fmt::format("HTTP {}: {}", r.status, words);
  }
  if (!r.error.empty()) {
    return fmt::format("HTTP {}, but {}", r.status, r.error);
  }
  if (r.body.empty()) {
    return fmt::format("HTTP {} with an empty body, not a JSON-RPC response", r.status);
  }
  return fmt::format("HTTP {}, but not a JSON-RPC response: {}", r.status, excerpt(r.body, 120));
}

}  // namespace mcpgw::client::probe_detail
