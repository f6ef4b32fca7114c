#include "mcp/modern.hpp"

#include <gtest/gtest.h>

namespace json = boost::json;
using namespace mcpgw::mcp;

namespace {

json::object request(std::string_view method, json::object params) {
  json::object meta;
  meta[meta::kProtocolVersion] = "2026-07-28";
  meta[meta::kClientCapabilities] = json::object();
  meta[meta::kClientInfo] = json::object{{"name", "c"}, {"version", "1"}};
  meta["progressToken"] = 7;
  params["_meta"] = std::move(meta);
  return json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
}

}  // namespace

TEST(Modern, VersionIsReadFromMeta) {
  EXPECT_EQ(meta_version(request("tools/list", {})), "2026-07-28");
  EXPECT_EQ(meta_version(json::object{{"method", "tools/list"}}), "");
}

TEST(Modern, Base64SentinelIsDecoded) {
  EXPECT_EQ(decode_header_value("plain"), "plain");
  EXPECT_EQ(decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?="), "Hello, 世界");
  EXPECT_EQ(decode_header_value("=?base64?IHBhZGRlZCA=?="), " padded ");
  EXPECT_FALSE(decode_header_value("=?base64?abc?=").has_value());
}

TEST(Modern, MirroredHeadersMustMatchTheBody) {
  const auto call = request("tools/call", json::object{{"name", "echo"}});
  EXPECT_EQ(check_mirrored(call, {"2026-07-28", "tools/call", "echo"}), "");
  EXPECT_NE(check_mirrored(call, {"2026-07-28", "tools/call", "add"}).find("Mcp-Name"),
            std::string::npos);
  EXPECT_NE(check_mirrored(call, {"2026-07-28", "tools/call", ""}).find("missing"),
            std::string::npos);
  EXPECT_NE(check_mirrored(call, {"2026-07-28", "tools/list", "echo"}).find("Mcp-Method"),
            std::string::npos);
  EXPECT_NE(check_mirrored(call, {"2025-11-25", "tools/call", "echo"})
                .find("MCP-Protocol-Version"),
            std::string::npos);
  EXPECT_NE(check_mirrored(call, {"", "tools/call", "echo"}).find("missing"), std::string::npos);
  const auto read = request("resources/read", json::object{{"uri", "file:///a b"}});
  EXPECT_EQ(check_mirrored(read, {"2026-07-28", "resources/read", "=?base64?ZmlsZTovLy9hIGI=?="}),
            "");
  auto note = request("notifications/cancelled", {});
  note.erase("id");
  EXPECT_EQ(check_mirrored(note, {"2026-07-28", "", ""}), "") << "notifications carry no Mcp-Method";
}

TEST(Modern, EnvelopeMustBeComplete) {
  auto r = request("tools/list", {});
  EXPECT_EQ(missing_meta(r), "");
  r["params"].as_object()["_meta"].as_object().erase(meta::kClientCapabilities);
  EXPECT_EQ(missing_meta(r), meta::kClientCapabilities);
}

TEST(Modern, EnvelopeIsTakenOutAndTheRestStays) {
  auto r = request("tools/call", json::object{{"name", "echo"}});
  const auto env = take_envelope(r);
  EXPECT_EQ(env.client_info.at("name"), "c");
  const auto& meta_obj = r.at("params").at("_meta").as_object();
  EXPECT_EQ(meta_obj.size(), 1u);
  EXPECT_EQ(meta_obj.at("progressToken"), 7);
  auto bare = request("tools/list", {});
  bare["params"].as_object()["_meta"].as_object().erase("progressToken");
  take_envelope(bare);
  EXPECT_FALSE(bare.at("params").as_object().contains("_meta")) << "an empty _meta is dropped";
}

TEST(Modern, ResultsAreStamped) {
  json::object list{{"id", 1}, {"result", json::object{{"tools", json::array()}}}};
  stamp_result(list, "tools/list");
  EXPECT_EQ(list.at("result").at("resultType"), "complete");
  EXPECT_EQ(list.at("result").at("ttlMs"), 0);
  EXPECT_EQ(list.at("result").at("cacheScope"), "private");
  json::object call{{"id", 1}, {"result", json::object{{"content", json::array()}}}};
  stamp_result(call, "tools/call");
  EXPECT_EQ(call.at("result").at("resultType"), "complete");
  EXPECT_FALSE(call.at("result").as_object().contains("ttlMs"));
  json::object asks{{"id", 1}, {"result", json::object{{"resultType", "input_required"}}}};
  stamp_result(asks, "tools/call");
  EXPECT_EQ(asks.at("result").at("resultType"), "input_required");
  json::object error{{"id", 1}, {"error", json::object{{"code", -1}}}};
  stamp_result(error, "tools/list");
  EXPECT_FALSE(error.contains("result"));
}

TEST(Modern, TowardAModernServerTheEnvelopeAndHeadersAreMade) {
  json::object req{{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tools/call"},
                   {"params", json::object{{"name", "echo"}}}};
  put_envelope(req, json::object{{"name", "mcpgw"}}, json::object{{"roots", json::object()}});
  EXPECT_EQ(meta_version(req), "2026-07-28");
  EXPECT_TRUE(missing_meta(req).empty());
  const auto headers = mirrored_headers(req);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"Mcp-Method", "tools/call"}));
  EXPECT_EQ(headers[1], (std::pair<std::string, std::string>{"Mcp-Name", "echo"}));
  EXPECT_TRUE(check_mirrored(req, {"2026-07-28", headers[0].second, headers[1].second}).empty());

  json::object odd{{"id", 4}, {"method", "resources/read"},
                   {"params", json::object{{"uri", "file:///caf\xc3\xa9 menu.txt"}}}};
  const auto encoded = mirrored_headers(odd);
  ASSERT_EQ(encoded.size(), 2u);
  EXPECT_TRUE(encoded[1].second.starts_with("=?base64?")) << encoded[1].second;
  EXPECT_EQ(decode_header_value(encoded[1].second),
            std::optional<std::string>("file:///caf\xc3\xa9 menu.txt"));
  json::object list{{"id", 5}, {"method", "tools/list"}};
  EXPECT_EQ(mirrored_headers(list).size(), 1u) << "Mcp-Method only";
}

TEST(Modern, AnInitializeRefusedForTheModernRevisionAloneIsRecognized) {
  const auto refusal = [](json::array supported, int code = -32022) {
    return json::object{{"code", code},
                        {"data", json::object{{"supported", std::move(supported)}}}};
  };
  EXPECT_TRUE(refuses_for_modern(refusal({"2026-07-28"})));
  EXPECT_FALSE(refuses_for_modern(refusal({"2099-01-01"})));
  EXPECT_FALSE(refuses_for_modern(refusal({"2026-07-28"}, -32602)));
  EXPECT_FALSE(refuses_for_modern(json::object{{"code", -32022}}));
}

TEST(Modern, AModernServersMarksAreTakenOut) {
  json::object asks{{"id", 1}, {"result", json::object{{"resultType", "input_required"}}}};
  EXPECT_TRUE(is_input_required(asks));
  json::object done{
      {"id", 1},
      {"result", json::object{{"resultType", "complete"},
                              {"ttlMs", 5},
                              {"cacheScope", "public"},
                              {"content", json::array()},
                              {"_meta", json::object{{"io.modelcontextprotocol/serverInfo",
                                                      json::object{{"name", "up"}}}}}}}};
  EXPECT_FALSE(is_input_required(done));
  strip_result(done);
  EXPECT_EQ(json::serialize(done.at("result")), R"({"content":[]})");
}
