#pragma once
// Internal: splits formula text into tokens. Whitespace (spaces, tabs, newlines) separates
// tokens and is otherwise ignored.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/formula/error.h"

namespace nimscaler::formula::detail {

enum class Tok : uint8_t {
  kEnd,
  kNumber,  // also durations, already converted to seconds
  kIdent,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kLt,
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kAnd,
  kOr,
  kNot,
  kQuestion,
  kColon,
  kLParen,
  kRParen,
  kComma,
};

struct Token {
  Tok type = Tok::kEnd;
  size_t pos = 0;         // byte offset of the first character
  std::string_view text;  // the characters of the token (empty for kEnd)
  double number = 0;      // kNumber only
  bool duration = false;  // kNumber written with a unit (2s, 500ms)
};

/// Describes a token for "got ..." messages: "end of formula", "number '2'", "'foo'", "')'".
std::string Describe(const Token& token);

/// Tokenizes `text` into `out` (ending with one kEnd token). On a bad character, number or
/// duration returns false and fills `failure`.
bool Lex(std::string_view text, std::vector<Token>* out, Failure* failure);

}  // namespace nimscaler::formula::detail
