#include "common/base64.hpp"
#include "common/sealer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

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

Sealer::Key key_of(unsigned char fill) {
  Sealer::Key k;
  k.fill(fill);
  return k;
}

TEST(Sealer, AKeyRingSealsWithItsFirstKeyAndOpensWithAny) {
  const Sealer old_only({key_of(1)});
  const Sealer rotating({key_of(2), key_of(1)});
  const Sealer new_only({key_of(2)});
  const std::string before = old_only.seal("s", "p");
  EXPECT_EQ(rotating.open(before, "p"), std::optional<std::string>("s"))
      << "a token of the old key opens while both are in the ring";
  const std::string during = rotating.seal("t", "p");
  EXPECT_EQ(new_only.open(during, "p"), std::optional<std::string>("t")) << "sealed with the first";
  EXPECT_FALSE(old_only.open(during, "p"));
  EXPECT_FALSE(new_only.open(before, "p")) << "the old key dropped, its tokens are refused";
  EXPECT_THROW(Sealer(std::vector<Sealer::Key>{}), std::invalid_argument);
}

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/mcpgw-keys-XXXXXX";
  const int fd = ::mkstemp(path);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Sealer, ReadsKeyFilesAndSaysWhatIsWrongWithOne) {
  const std::string hex(64, 'a');
  const std::string b64 = base64_encode(std::string(32, '\x07'));
  std::string error;
  const std::string good = write_temp("# the ring\n" + hex + "\n\n  " + b64 + "  \n");
  auto keys = Sealer::read_keys(good, error);
  ASSERT_TRUE(keys) << error;
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0], key_of(0xaa));
  EXPECT_EQ((*keys)[1], key_of(7));
  const std::string short_key = write_temp(hex + "\n" + std::string(62, 'b') + "\n");
  EXPECT_FALSE(Sealer::read_keys(short_key, error));
  EXPECT_NE(error.find("line 2 is not a key"), std::string::npos) << error;
  const std::string empty = write_temp("# nothing yet\n");
  EXPECT_FALSE(Sealer::read_keys(empty, error));
  EXPECT_NE(error.find("holds no key"), std::string::npos) << error;
  EXPECT_FALSE(Sealer::read_keys("/nonexistent/keys", error));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
  for (const auto& p : {good, short_key, empty}) std::remove(p.c_str());
}

}  // namespace
}  // namespace mcpgw
