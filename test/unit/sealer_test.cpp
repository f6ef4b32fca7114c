#include "common/base64.hpp"
#include "common/sealer.hpp"

#include <gtest/gtest.h>

namespace mcpgw {
namespace {

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    const std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos) << encoded;
    EXPECT_EQ(base64url_decode(encoded), std::optional<std::string>(bytes)) << i;
    bytes.push_back(static_cast<char>(i * 37 + 200));
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Sealer, OpensWhatItSealed) {
  const Sealer sealer = Sealer::random();
  const std::string token = sealer.seal(R"({"s":"abc"})", "purpose-a");
  EXPECT_EQ(token.find("abc"), std::string::npos) << "the plaintext does not show";
  EXPECT_EQ(sealer.open(token, "purpose-a"), std::optional<std::string>(R"({"s":"abc"})"));
  EXPECT_NE(sealer.seal("same", "p"), sealer.seal("same", "p")) << "a fresh nonce each time";
  EXPECT_EQ(sealer.open(sealer.seal("", "p"), "p"), std::optional<std::string>(""));
}

TEST(Sealer, RefusesAlteredForeignAndMisusedTokens) {
  const Sealer sealer = Sealer::random();
  const std::string token = sealer.seal("state", "purpose-a");
  EXPECT_FALSE(sealer.open(token, "purpose-b")) << "sealed for another purpose";
  EXPECT_FALSE(Sealer::random().open(token, "purpose-a")) << "another key";
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(sealer.open(altered, "purpose-a")) << "byte " << i;
  }
  EXPECT_FALSE(sealer.open(token.substr(0, token.size() - 1), "purpose-a")) << "truncated";
  EXPECT_FALSE(sealer.open("", "purpose-a"));
  EXPECT_FALSE(sealer.open("not base64url!", "purpose-a"));
}

}  // namespace
}  // namespace mcpgw
