#pragma once
// base64url without padding (RFC 4648 §5): JWTs, JWKs and the gateway's sealed tokens; and
// plain base64 with padding (§4): MCP's blobs.
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw {

std::string base64url_encode(std::string_view bytes);

/// Decodes unpadded base64url; nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view in);

/// Plain base64, padded with '='.
std::string base64_encode(std::string_view bytes);

/// Decodes plain base64 (padding optional); nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace mcpgw
