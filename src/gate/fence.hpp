#pragma once
// Fences around untrusted text: the text is wrapped between two markers that carry a fresh
// random id, under a one-line notice naming the source and saying that the text is data, not
// instructions. Markers inside the text are neutralised first, found on the text's skeleton
// (gate/skeleton.hpp: confusables, escapes and invisible characters), so content cannot close
// a fence early or open one of its own.
#include <string>
#include <string_view>

namespace mcpgw::gate {

/// The text with every spelling of the fence marker word replaced by "[fence marker removed]".
std::string neutralize_markers(std::string_view text);

/// `text`, neutralised and fenced. `id` is the fence's random id (16 hex digits).
std::string fence(std::string_view text, std::string_view source, std::string_view id);

}  // namespace mcpgw::gate
