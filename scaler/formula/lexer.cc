// Exports detail::Lex and detail::Describe: the formula tokenizer.
#include "scaler/formula/lexer.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "scaler/common/clock.h"
#include "scaler/common/text.h"

namespace nimscaler::formula::detail {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsIdentStart(char c) { return IsAlpha(c) || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string ShowChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", u);
    return std::string("byte ") + buf;
  }
  return std::string("character '") + c + "'";
}

// Lexes a number or a duration starting at text[i]; advances i.
bool LexNumber(std::string_view text, size_t* i, Token* tok, Failure* failure) {
  size_t start = *i;
  size_t j = start;
  while (j < text.size() && IsDigit(text[j])) ++j;
  if (j < text.size() && text[j] == '.') {
    ++j;
    while (j < text.size() && IsDigit(text[j])) ++j;
  }
  if (j - start == 1 && text[start] == '.') {
    *failure = {start, "unexpected character '.'"};
    return false;
  }
  // An exponent only when digits follow ("1e3", "2e-1"); "2e" is left for the unit check.
  if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
    size_t k = j + 1;
    if (k < text.size() && (text[k] == '+' || text[k] == '-')) ++k;
    if (k < text.size() && IsDigit(text[k])) {
      while (k < text.size() && IsDigit(text[k])) ++k;
      j = k;
    }
  }
  if (j < text.size() && (IsIdentChar(text[j]) || text[j] == '.')) {
    // A duration such as 500ms, 2s, 1m30s: digits and letters run together.
    size_t k = j;
    while (k < text.size() && (IsIdentChar(text[k]) || text[k] == '.')) ++k;
    std::string_view word = text.substr(start, k - start);
    auto d = ParseDuration(word);
    if (!d) {
      *failure = {start,
                  "invalid number or duration '" + Truncate(word, 40) + "' (duration units: ns, us, ms, s, m, h)"};
      return false;
    }
    tok->type = Tok::kNumber;
    tok->pos = start;
    tok->text = word;
    tok->number = ToSeconds(*d);
    tok->duration = true;
    *i = k;
    return true;
  }
  std::string_view word = text.substr(start, j - start);
  double v = 0;
  auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec != std::errc() || ptr != word.data() + word.size() || !std::isfinite(v)) {
    *failure = {start, "number '" + Truncate(word, 40) + "' is out of range"};
    return false;
  }
  tok->type = Tok::kNumber;
  tok->pos = start;
  tok->text = word;
  tok->number = v;
  *i = j;
  return true;
}

}  // namespace

std::string Describe(const Token& token) {
  switch (token.type) {
    case Tok::kEnd: return "end of formula";
    case Tok::kNumber: return "number '" + Truncate(token.text, 40) + "'";
    default: return "'" + Truncate(token.text, 40) + "'";
  }
}

namespace {

// The operator or punctuation at text[i] into `tok` (type and length); false with `failure`
// set for a character that starts none.
bool LexOperator(std::string_view text, size_t i, Token* tok, Failure* failure) {
  const char c = text[i];
  const char next = i + 1 < text.size() ? text[i + 1] : '\0';
  size_t len = 1;
  // Two-character operators whose first character alone is an error: '=', '&', '|'.
  auto doubled = [&](Tok type, const char* want) {
    if (next != c) {
      *failure = {i, std::string("unexpected '") + c + "', did you mean '" + want + "'?"};
      return false;
    }
    tok->type = type;
    len = 2;
    return true;
  };
  // '<', '>', '!' alone or followed by '='.
  auto maybe_eq = [&](Tok alone, Tok with_eq) {
    tok->type = next == '=' ? with_eq : alone;
    len = next == '=' ? 2 : 1;
    return true;
  };
  bool ok = true;
  switch (c) {
    case '+': tok->type = Tok::kPlus; break;
    case '-': tok->type = Tok::kMinus; break;
    case '*': tok->type = Tok::kStar; break;
    case '/': tok->type = Tok::kSlash; break;
    case '?': tok->type = Tok::kQuestion; break;
    case ':': tok->type = Tok::kColon; break;
    case '(': tok->type = Tok::kLParen; break;
    case ')': tok->type = Tok::kRParen; break;
    case ',': tok->type = Tok::kComma; break;
    case '<': ok = maybe_eq(Tok::kLt, Tok::kLe); break;
    case '>': ok = maybe_eq(Tok::kGt, Tok::kGe); break;
    case '!': ok = maybe_eq(Tok::kNot, Tok::kNe); break;
    case '=': ok = doubled(Tok::kEq, "=="); break;
    case '&': ok = doubled(Tok::kAnd, "&&"); break;
    case '|': ok = doubled(Tok::kOr, "||"); break;
    default: *failure = {i, "unexpected " + ShowChar(c)}; return false;
  }
  if (ok) tok->text = text.substr(i, len);
  return ok;
}

}  // namespace

bool Lex(std::string_view text, std::vector<Token>* out, Failure* failure) {
  out->clear();
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i >= text.size()) break;
    char c = text[i];
    Token tok;
    tok.pos = i;
    if (IsDigit(c) || (c == '.' && i + 1 < text.size() && IsDigit(text[i + 1]))) {
      if (!LexNumber(text, &i, &tok, failure)) return false;
      out->push_back(tok);
      continue;
    }
    if (IsIdentStart(c)) {
      size_t j = i;
      while (j < text.size() && IsIdentChar(text[j])) ++j;
      tok.type = Tok::kIdent;
      tok.text = text.substr(i, j - i);
      out->push_back(tok);
      i = j;
      continue;
    }
    if (!LexOperator(text, i, &tok, failure)) return false;
    out->push_back(tok);
    i += tok.text.size();
  }
  Token end;
  end.type = Tok::kEnd;
  end.pos = text.size();
  out->push_back(end);
  return true;
}

}  // namespace nimscaler::formula::detail
