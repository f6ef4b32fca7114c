#pragma once
// The ASCII skeleton of text: what a reader (or a model) takes the text to say, whatever
// characters spell it. Fence markers and folded detectors are matched on it.
//
// Per character: HTML character references (`&#109;`, `&#x6d;`, `&amp;`…) and `\uXXXX` /
// `\xHH` escapes are decoded first; then NFKC (full-width and mathematical letters, ligatures),
// default-ignorable, format and combining characters dropped (zero-width spaces, tag
// characters, Hangul fillers, accents), then Unicode's confusable skeleton (UTS #39, ICU's
// spoof checker) and case folding. Letters that end up ASCII are kept in lower case; any other
// character becomes one '\x01'.
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::gate {

/// ASCII skeleton of `text`. `offsets[i]` is where the character that gave skeleton byte i
/// starts in `text` (plus one final entry, `text.size()`).
std::string skeleton(std::string_view text, std::vector<std::size_t>* offsets = nullptr);
/// Appends the ASCII skeleton of `text` to `out` (no offsets): what skeleton(text) returns.
void append_skeleton(std::string_view text, std::string& out);
/// True when the skeleton of `text` is `text` with its ASCII letters lower-cased (it is all
/// ASCII, with no character reference or escape to decode).
bool skeleton_is_lowercase(std::string_view text) noexcept;

}  // namespace mcpgw::gate
