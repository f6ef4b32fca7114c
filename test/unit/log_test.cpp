// JSON log lines: strings are escaped so that every line parses, whatever a server or a client
// put in a message (quotes, control characters, bytes that are not UTF-8).
#include "common/log.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace mcpgw::log {
namespace {

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(Log, JsonStringsEscapeQuotesBackslashesAndControls) {
  EXPECT_EQ(json_quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quoted("line\nnext\ttab\r"), R"("line\nnext\ttab\r")");
  EXPECT_EQ(json_quoted(std::string_view("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(json_quoted(std::string_view("nul\0here", 8)), R"("nul\u0000here")");
}

TEST(Log, Utf8IsKeptAndOtherBytesBecomeReplacementCharacters) {
  EXPECT_EQ(json_quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  // A lone continuation byte, a truncated sequence, an overlong form, a surrogate.
  for (std::string_view bad : {"\x80", "\xE2\x82", "\xC0\xAF", "\xED\xA0\x80", "\xF5\x80\x80\x80"}) {
    const std::string out = json_quoted(bad);
    boost::system::error_code ec;
    const auto v = boost::json::parse(out, ec);
    ASSERT_FALSE(ec) << "not JSON: " << out;
    EXPECT_NE(v.as_string().find("\xEF\xBF\xBD"), boost::json::string::npos) << out;
  }
}

TEST(Log, EveryByteValueStillMakesValidJson) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all += static_cast<char>(b);
  }
  boost::system::error_code ec;
  boost::json::parse(json_quoted(all), ec);
  EXPECT_FALSE(ec);
}

TEST(Log, FormatsAreTextAndJson) {
  EXPECT_EQ(parse_format("text"), Format::text);
  EXPECT_EQ(parse_format("json"), Format::json);
  EXPECT_FALSE(parse_format("JSON").has_value());
  EXPECT_FALSE(parse_format("").has_value());
}

}  // namespace
}  // namespace mcpgw::log
