#include "client/header_arg.hpp"

#include "common/text.hpp"

#include <fmt/format.h>

namespace mcpgw::client {

namespace {

/// RFC 9110 token characters.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

bool parse_header_arg(std::string_view arg, Header& out, std::string& error) {
  const auto colon = arg.find(':');
  if (colon == std::string_view::npos) {
    error = fmt::format("--header \"{}\": expected \"Name: value\"", arg);
    return false;
  }
  const auto name = trim(arg.substr(0, colon));
  const auto value = trim(arg.substr(colon + 1));
  if (name.empty()) {
    error = fmt::format("--header \"{}\": the name is empty", arg);
    return false;
  }
  for (char c : name) {
    if (!is_token_char(c)) {
      error = fmt::format("--header \"{}\": '{}' is not allowed in a header name", arg, c);
      return false;
    }
  }
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    error = fmt::format("--header \"{}\": the value holds a line break", name);
    return false;
  }
  out = {std::string(name), std::string(value)};
  return true;
}

bool parse_header_args(const std::vector<std::string>& args, std::vector<Header>& out,
                       std::string& error) {
  out.clear();
  for (const auto& a : args) {
    Header h;
    if (!parse_header_arg(a, h, error)) {
      return false;
    }
    out.push_back(std::move(h));
  }
  return true;
}

}  // namespace mcpgw::client
