#pragma once
// Value-level data flow: the secret values a scope has read, and the check that finds them
// again in what a call sends out. A value is kept as keyed 64-bit hashes of its normalized
// 6-grams (lower case, letters and digits only), never in clear; the key is random per
// process. An outgoing text carries a value when at least half of the value's n-grams occur in
// it (and at least three), so a value is found verbatim, in another case, with separators
// put in, split across several fields, or base64-, hex- or URL-encoded (those are decoded
// first). With replicas, the key comes from their key ring and the hashes are shared. Memory is bounded per scope (kMaxGrams); values past it are not remembered.
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mcpgw::gate {

class SecretValues {
 public:
  static constexpr std::size_t kGram = 6;
  static constexpr std::size_t kMinLength = 8;  ///< shorter values (normalized) are not kept
  static constexpr std::size_t kMinToken = 12;  ///< of a token taken from a result
  static constexpr std::size_t kMaxGrams = 4096;

  /// Keeps `value` (a token of a secret_data result, or a detector's finding), read from
  /// `source`. False when it is too short, or the scope's memory is full.
  bool remember(std::string_view value, std::string_view source);
  /// Keeps the secret-looking tokens of `text`: 12 or more characters between separators, 6 of
  /// them different, with letters and digits or both cases, not an email address or a URL,
  /// and not one of `sent` (the normalized tokens of the call's own arguments: what the agent
  /// sent and got back is not a secret it read).
  void remember_tokens(std::string_view text, std::string_view source,
                       const std::vector<std::string>& sent = {});
  /// The normalized secret-looking tokens of `text`, appended to `out`.
  static void tokens(std::string_view text, std::vector<std::string>& out);

  struct Match {
    std::string source;  ///< where the value was read
    std::string how;     ///< "as it was", "base64-encoded", "hex-encoded", "URL-encoded"
  };
  /// The first remembered value that `texts` (a call's argument strings) carry.
  std::optional<Match> find(const std::vector<std::string_view>& texts) const;

  bool empty() const noexcept { return values_.empty(); }
  std::size_t grams() const noexcept { return grams_.size(); }

  // Replicas sharing a scope (gate/shared_scopes.hpp).
  struct Kept {
    std::string source;
    std::vector<std::uint64_t> grams;  ///< the value's n-gram hashes, in order
  };
  /// From now on, what remember() keeps is also queued for the replicas' shared state.
  void share() noexcept { sharing_ = true; }
  /// The values kept here since the last call, to be written to the shared state.
  std::vector<Kept> take_unshared() { return std::exchange(unshared_, {}); }
  /// Puts back what could not be written, to be written with the next result.
  void requeue(std::vector<Kept>&& kept) {
    kept.insert(kept.end(), std::make_move_iterator(unshared_.begin()),
                std::make_move_iterator(unshared_.end()));
    unshared_ = std::move(kept);
  }
  /// Keeps a value another replica read (its n-gram hashes, under the cluster's flow key).
  /// False when the scope's memory is full.
  bool adopt(std::string_view source, const std::vector<std::uint64_t>& grams);

 private:
  /// Keeps a value given by its n-gram hashes; false when the memory is full. `added`: it was
  /// not known before.
  bool keep(std::string_view source, const std::vector<std::uint64_t>& grams, bool& added);

  struct Value {
    std::uint32_t source;  ///< index in sources_
    std::uint32_t grams;   ///< distinct n-grams
  };
  std::unordered_map<std::uint64_t, std::uint32_t> grams_;  ///< n-gram hash → value
  std::vector<Value> values_;
  std::vector<std::string> sources_;
  bool sharing_ = false;
  std::vector<Kept> unshared_;
};

/// The key of the n-gram hashes: random per process, unless the replicas derive it from their
/// shared key ring (then a value one replica read is found by another). Set once, at start,
/// before any value is kept; false (and unchanged) when values were hashed already.
bool set_flow_key(std::string_view secret);

/// Lower-case letters and digits of `text`, nothing else.
std::string normalize_value(std::string_view text);

}  // namespace mcpgw::gate
