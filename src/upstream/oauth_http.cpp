#include "upstream/oauth_http.hpp"

#include "common/base64.hpp"
#include "upstream/remote_backend.hpp"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <fmt/format.h>

namespace mcpgw::upstream {

namespace json = boost::json;

asio::awaitable<Fetched> fetch(asio::any_io_executor ex, const std::string& url,
                               http::verb method, std::string body,
                               std::string_view content_type, std::string_view authorization,
                               const FetchOptions& opts) {
  Fetched out;
  Url where;
  if (!parse_url(url, where, out.error)) {
    co_return out;
  }
  auto client = std::make_shared<HttpClient>(ex, where, opts.tls, opts.connect_timeout, "oauth");
  HttpRequest req;
  req.method = method;
  req.target = where.target;
  req.headers.set(http::field::accept, "application/json");
  if (!content_type.empty()) {
    req.headers.set(http::field::content_type, content_type);
  }
  if (!authorization.empty()) {
    req.headers.set(http::field::authorization, authorization);
  }
  req.body = std::move(body);
  boost::system::error_code ec;
  bool connect_failed = false;
  auto resp = co_await client->send(req, opts.deadline, ec, out.error, connect_failed);
  if (!resp) {
    out.error = fmt::format("{}: {}", where.display(), out.error);
    co_return out;
  }
  out.status = resp->status();
  out.www_authenticate = std::string(resp->header(http::field::www_authenticate));
  if (!co_await resp->read_all(out.body, opts.max_body, opts.deadline, ec)) {
    out.error = fmt::format("{}: {}", where.display(),
                            ec ? ec.message() : std::string("the answer is too long"));
    out.status = 0;
  }
  co_return out;
}

std::string form_encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

void add_form_field(std::string& body, std::string_view name, std::string_view value) {
  if (value.empty()) {
    return;
  }
  body += body.empty() ? "" : "&";
  body += name;
  body += '=';
  body += form_encode(value);
}

std::string basic_authorization(std::string_view client_id, std::string_view client_secret) {
  return "Basic " + base64_encode(form_encode(client_id) + ":" + form_encode(client_secret));
}

std::string_view string_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::int64_t int_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->get_int64() : 0;
}

std::chrono::seconds expires_in(const json::object& o, std::chrono::seconds fallback) {
  const auto* v = o.if_contains("expires_in");
  double s = -1;
  if (v != nullptr && v->is_number()) {
    s = v->to_number<double>();
  } else if (v != nullptr && v->is_string()) {
    s = std::strtod(v->get_string().c_str(), nullptr);
  }
  return s > 0 ? std::chrono::seconds(static_cast<std::int64_t>(s)) : fallback;
}

std::string oauth_error(const Fetched& answer) {
  boost::system::error_code ec;
  const json::value doc = json::parse(answer.body, ec);
  const json::object* o = !ec && doc.is_object() ? &doc.get_object() : nullptr;
  const auto code = o != nullptr ? string_of(*o, "error") : std::string_view();
  const auto why = o != nullptr ? string_of(*o, "error_description") : std::string_view();
  if (code.empty()) {
    return fmt::format("HTTP {}", answer.status);
  }
  return fmt::format("{}{}{}", printable(code), why.empty() ? "" : ": ", printable(why));
}

}  // namespace mcpgw::upstream
