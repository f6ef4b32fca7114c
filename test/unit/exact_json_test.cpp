#include "jsonrpc/exact_json.hpp"
#include "jsonrpc/message.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>

namespace mcpgw::jsonrpc {
namespace {

std::string round_trip(std::string_view text) {
  auto v = parse(text);
  EXPECT_TRUE(v.has_value()) << text;
  return v ? jsonrpc::serialize(*v) : std::string();
}

TEST(ExactJson, NumbersNoDoubleHoldsComeOutAsTheyWentIn) {
  for (std::string_view n : {"1e400", "-1e-400", "12345678901234567890123",
                             "-98765432109876543210987654321", "0.1000000000000000055511151231257827",
                             "-0", "1E+400", "123456789012345678901234567890.5e-3"}) {
    const std::string text = std::string(R"({"a":[)") + std::string(n) + "]}";
    EXPECT_EQ(round_trip(text), text);
  }
}

TEST(ExactJson, NeverWritesInfinityOrNaN) {
  const std::string out = round_trip(R"({"x":1e999,"y":-1e999,"z":[1e308,1.7976931348623159e308]})");
  EXPECT_EQ(out.find("Infinity"), std::string::npos) << out;
  EXPECT_EQ(out.find("NaN"), std::string::npos) << out;
  EXPECT_TRUE(boost::json::parse(out).is_object());
}

std::string bracketed(std::string_view n) {
  std::string out;
  out.reserve(n.size() + 2);
  out.push_back('[');
  out.append(n);
  out.push_back(']');
  return out;
}

TEST(ExactJson, EveryNumberKeepsItsText) {
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) {
      continue;
    }
    char buf[64];
    const auto fmt = i % 2 == 0 ? std::chars_format::general : std::chars_format::scientific;
    auto r = std::to_chars(buf, buf + sizeof buf, d, fmt, 17);
    const std::string in = bracketed(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    EXPECT_EQ(round_trip(in), in);
  }
  for (std::string_view n : {"2.5", "1.0", "1E5", "1e-7", "0.0", "100", "-17", "1.50"}) {
    const std::string in = bracketed(n);
    EXPECT_EQ(round_trip(in), in);
  }
}

TEST(ExactJson, AnEditedNumberIsWrittenAsAString) {
  auto v = parse(R"({"n":4111111111111111.5})");
  ASSERT_TRUE(v.has_value());
  auto& s = v->at("n").as_string();
  ASSERT_TRUE(is_raw_number(v->at("n")));
  s = std::string(s.data(), 4) + "[REDACTED]";  // what a redaction of the digits leaves
  EXPECT_EQ(jsonrpc::serialize(*v), R"({"n":"[REDACTED]"})");
}

TEST(ExactJson, ParseSerializeParseIsIdentity) {
  const std::string once = round_trip(
      R"({"a":1,"b":-2,"c":18446744073709551615,"d":2.5,"e":"x\u0000y","f":[true,false,null],)"
      R"("g":0.30000000000000004,"h":1e400,"i":{"j":"\u0000\u0001n:5"}})");
  EXPECT_EQ(round_trip(once), once);
}

TEST(ExactJson, AStringCannotForgeARawNumber) {
  // A client sends the mark itself: it stays a string, on the way in and out.
  const std::string text = R"({"id":"\u0000\u0001n:1}],\"evil\":[1","k":"\u0000\u0001s:x"})";
  auto v = parse(text);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(is_raw_number(v->at("id")));
  EXPECT_EQ(jsonrpc::serialize(*v), text);
  EXPECT_TRUE(boost::json::parse(jsonrpc::serialize(*v)).at("id").is_string());
  // Keys too.
  const std::string key = R"({"\u0000\u0001n:7":1})";
  EXPECT_EQ(round_trip(key), key);
}

TEST(ExactJson, RawNumbersAreMarkedAndIdsStayValid) {
  auto v = parse(R"({"jsonrpc":"2.0","id":1e400,"method":"ping"})");
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(is_raw_number(v->at("id")));
  EXPECT_EQ(jsonrpc::serialize(make_result(v->at("id"), boost::json::object())),
            R"({"jsonrpc":"2.0","id":1e400,"result":{}})");
}

TEST(ExactJson, RejectsWhatIsNotJson) {
  for (std::string_view bad : {"{", "[1,]", "NaN", "{\"a\":Infinity}", "1 2", "", "\"\\x\""}) {
    EXPECT_FALSE(parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(parse(std::string(100, '[') + std::string(100, ']'), 64).has_value());
}

TEST(ScanId, FindsTheTopLevelIdOfTextThatIsNotJson) {
  EXPECT_EQ(scan_id(R"({"jsonrpc":"2.0","id":42,"result":{"v":NaN}})"), 42);
  EXPECT_EQ(scan_id(R"({"result":{"id":7,"x":[{"id":8}]},"id" : 9})"), 9);
  EXPECT_EQ(scan_id(R"({"text":"\"id\":5","id":-3})"), -3);
  EXPECT_FALSE(scan_id(R"({"id":"abc"})").has_value());
  EXPECT_FALSE(scan_id("not json at all").has_value());
}

}  // namespace
}  // namespace mcpgw::jsonrpc
