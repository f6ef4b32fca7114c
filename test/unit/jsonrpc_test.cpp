#include "common/error.hpp"
#include "jsonrpc/message.hpp"

#include <gtest/gtest.h>

namespace mcpgw::jsonrpc {
namespace {

Kind kind_of(std::string_view text, std::string_view* why = nullptr) {
  auto v = parse(text);
  EXPECT_TRUE(v.has_value()) << text;
  return classify(*v, why);
}

TEST(Codec, ClassifiesRequestsNotificationsAndResponses) {
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"), Kind::request);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}})"),
            Kind::request);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"),
            Kind::notification);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":7,"result":{}})"), Kind::response);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"x"}})"),
            Kind::response);
  // An error whose id could not be read carries id null.
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})"),
            Kind::response);
}

TEST(Codec, RejectsWhatIsNotJsonRpc) {
  std::string_view why;
  EXPECT_EQ(kind_of(R"({"id":1,"method":"ping"})", &why), Kind::invalid);
  EXPECT_NE(why.find("jsonrpc"), std::string_view::npos);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"1.0","id":1,"method":"ping"})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":null,"method":"ping"})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":{},"method":"ping"})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":1,"method":5})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":1,"method":"x","params":"str"})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","id":1,"result":{},"error":{}})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"({"jsonrpc":"2.0","result":{}})"), Kind::invalid);
  EXPECT_EQ(kind_of(R"([1,2])"), Kind::invalid);
  EXPECT_EQ(kind_of(R"("hello")"), Kind::invalid);
}

TEST(Codec, ParseErrorsAreGatewayParseErrors) {
  auto bad = parse("{\"jsonrpc\": ");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error(), make_error_code(Errc::parse_error));
  EXPECT_EQ(to_rpc_code(bad.error()), -32700);
  EXPECT_EQ(to_http_status(bad.error()), 400u);
}

TEST(Codec, DepthLimitStopsHostileNesting) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_FALSE(parse(deep, 64).has_value());
  EXPECT_TRUE(parse(deep, 256).has_value());
}

TEST(Codec, IdKeysDistinguishStringsFromNumbers) {
  EXPECT_NE(id_key(json::value(1)), id_key(json::value("1")));
  EXPECT_EQ(id_key(json::value(42)), id_key(json::parse("42")));
  EXPECT_EQ(id_key(json::value(42)), id_key(json::value(std::uint64_t{42})));
}

TEST(Codec, SerializesOnOneLine) {
  auto v = parse("{\n \"jsonrpc\": \"2.0\",\n \"id\": 1,\n \"result\": {\"text\": \"a\\nb\"}\n}");
  ASSERT_TRUE(v.has_value());
  const std::string out = jsonrpc::serialize(*v);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":1,"result":{"text":"a\nb"}})");
}

TEST(Codec, BuildsErrors) {
  auto e = make_error(json::value(3), -32601, "Method not found: x");
  EXPECT_EQ(jsonrpc::serialize(e),
            R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found: x"}})");
}

TEST(Codec, FindsProgressTokens) {
  auto v = parse(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"t1"}}})");
  const json::value* t = progress_token(v->as_object());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->as_string(), "t1");
  auto w = parse(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})");
  EXPECT_EQ(progress_token(w->as_object()), nullptr);
}

TEST(Errors, MapToStatusesAndCodes) {
  EXPECT_EQ(to_http_status(make_error_code(Errc::session_not_found)), 404u);
  EXPECT_EQ(to_rpc_code(make_error_code(Errc::session_not_found)), -32001);
  EXPECT_EQ(to_http_status(make_error_code(Errc::session_required)), 400u);
  EXPECT_EQ(to_http_status(make_error_code(Errc::unsupported_version)), 400u);
  EXPECT_EQ(to_http_status(make_error_code(Errc::payload_too_large)), 413u);
  EXPECT_EQ(to_http_status(make_error_code(Errc::forbidden)), 403u);
  EXPECT_EQ(to_http_status(make_error_code(Errc::shutting_down)), 503u);
  EXPECT_EQ(to_rpc_code(make_error_code(Errc::method_not_found)), -32601);
  EXPECT_EQ(to_rpc_code(make_error_code(Errc::upstream_closed)), -32603);
}

}  // namespace
}  // namespace mcpgw::jsonrpc
