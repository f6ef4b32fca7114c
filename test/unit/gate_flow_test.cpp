#include "common/base64.hpp"
#include "gate/flow.hpp"
#include "gate/shared_scopes.hpp"

#include <gtest/gtest.h>

namespace mcpgw::gate {
namespace {

constexpr std::string_view kSecret = "AKIAIOSFODNN7EXAMPLE";

std::optional<std::string> how(const SecretValues& v, std::vector<std::string_view> texts) {
  auto m = v.find(texts);
  if (!m) return std::nullopt;
  EXPECT_EQ(m->source, "vault/get_secret");
  return m->how;
}

std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    constexpr char kDigits[] = "0123456789abcdef";
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

TEST(ValueFlow, FindsASecretHoweverItIsSpelledOrSplit) {
  SecretValues v;
  v.remember_tokens("aws=AKIAIOSFODNN7EXAMPLE region us-east-1 note: rotate soon",
                    "vault/get_secret");
  EXPECT_FALSE(v.empty());
  EXPECT_EQ(how(v, {"key AKIAIOSFODNN7EXAMPLE"}), "as it was");
  EXPECT_EQ(how(v, {"akia-iosf-odnn-7exa-mple"}), "as it was") << "case and separators";
  EXPECT_EQ(how(v, {"to: x@y.example", "AKIAIOSFOD", "NN7EXAMPLE"}), "as it was")
      << "split across fields";
  EXPECT_EQ(how(v, {"https://evil.example/?k=" + base64_encode("aws=" + std::string(kSecret))}),
            "base64-encoded");
  EXPECT_EQ(how(v, {"data " + hex(kSecret)}), "hex-encoded");
  EXPECT_EQ(how(v, {"https://evil.example/?k=%41%4B%49%41%49%4F%53%46%4F%44%4E%4E%37%45%58"
                    "%41%4D%50%4C%45"}),
            "URL-encoded");
  EXPECT_EQ(how(v, {"https://evil.example/?a=100%&k=%41%4B%49%41%49%4F%53%46%4F%44%4E%4E%37"
                    "%45%58%41%4D%50%4C%45%"}),
            "URL-encoded")
      << "a stray '%' does not stop the decoding";
  EXPECT_EQ(how(v, {"an example of a quarterly report", "rotate soon", "us-east-1"}),
            std::nullopt)
      << "plain words, short tokens and a part of the value are not the value";
}

TEST(ValueFlow, RemembersOnlySecretLookingTokensAndIsBounded) {
  SecretValues v;
  v.remember_tokens("contact boss@example.com at https://example.com/path on 2024-01-15 "
                    "about quarterly projections", "crm/lookup");
  EXPECT_TRUE(v.empty()) << "addresses, dates and words are not secrets";
  v.remember_tokens("Echo: m100000123 aaaaaaaaaaaa1", "demo/echo");
  EXPECT_TRUE(v.empty()) << "short, or too few different characters";
  std::vector<std::string> sent;
  SecretValues::tokens("please file Report-2024Q3-final", sent);
  ASSERT_EQ(sent, std::vector<std::string>{"report2024q3final"});
  v.remember_tokens("Echo: please file Report-2024Q3-final", "demo/echo", sent);
  EXPECT_TRUE(v.empty()) << "what the call sent and got back is not a secret it read";
  std::size_t kept = 0;
  for (int i = 0; i < 2000; ++i) {
    kept += v.remember("Tok3n" + std::to_string(1000000 + i) + "xYz", "s") ? 1 : 0;
  }
  EXPECT_LE(v.grams(), SecretValues::kMaxGrams);
  EXPECT_LT(kept, 2000u) << "memory per scope is bounded";
  EXPECT_GT(kept, 100u);
}

TEST(SecretValues, AValueOneReplicaReadIsFoundByAnotherFromItsSharedForm) {
  SecretValues a;
  a.share();
  ASSERT_TRUE(a.remember("AKIAIOSFODNN7EXAMPLE", "vault/get_secret"));
  ASSERT_TRUE(a.remember("AKIAIOSFODNN7EXAMPLE", "vault/get_secret"));
  auto kept = a.take_unshared();
  ASSERT_EQ(kept.size(), 1u) << "a value read again is not written again";
  EXPECT_TRUE(a.take_unshared().empty());

  const std::string stored = SharedScopes::encode(kept[0]);
  EXPECT_EQ(stored.find("IOSFODNN"), std::string::npos) << "never in clear";
  auto back = SharedScopes::decode(stored);
  ASSERT_TRUE(back);
  SecretValues b;
  ASSERT_TRUE(b.adopt(back->source, back->grams));
  auto m = b.find({"status: key AKIA-IOSFODNN7-EXAMPLE"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->source, "vault/get_secret");
  EXPECT_FALSE(b.find({"nothing secret here at all"}));
  b.share();
  EXPECT_TRUE(b.take_unshared().empty()) << "what another replica read is not written back";

  EXPECT_FALSE(SharedScopes::decode("no newline"));
  EXPECT_FALSE(SharedScopes::decode("src\n0123"));
  EXPECT_FALSE(SharedScopes::decode("src\nzzzzzzzzzzzzzzzz"));
}

}  // namespace
}  // namespace mcpgw::gate
