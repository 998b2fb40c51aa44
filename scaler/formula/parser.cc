// Exports detail::Parse. The Parser class here is private: a recursive-descent parser whose
// recursion is bounded by Options::max_depth, so hostile input cannot exhaust the stack.
#include "scaler/formula/parser.h"

#include <algorithm>
#include <string>
#include <vector>

#include "scaler/formula/lexer.h"

namespace nimscaler::formula::detail {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const std::vector<Token>& tokens, const Options& options, Failure* failure)
      : text_(text), tokens_(tokens), options_(options), failure_(failure) {}

  NodePtr ParseAll() {
    NodePtr root = ParseExpr();
    if (!root) return nullptr;
    if (Peek().type != Tok::kEnd) {
      return Fail(Peek().pos, "expected an operator or the end of the formula, got " + Describe(Peek()));
    }
    return root;
  }

 private:
  const Token& Peek() const { return tokens_[next_]; }
  const Token& Take() { return tokens_[next_ < tokens_.size() - 1 ? next_++ : next_]; }

  NodePtr Fail(size_t pos, std::string message) {
    if (!failed_) {
      failed_ = true;
      *failure_ = {pos, std::move(message)};
    }
    return nullptr;
  }

  // Builds a node and enforces the depth limit on the tree.
  NodePtr Make(Op op, size_t pos, std::vector<NodePtr> args) {
    auto node = std::make_unique<Node>();
    node->op = op;
    node->pos = pos;
    int tallest = 0;
    for (const auto& arg : args) tallest = std::max(tallest, arg->height);
    node->height = tallest + 1;
    node->args = std::move(args);
    if (node->height > options_.max_depth) return TooDeep(pos);
    return node;
  }
  NodePtr Make(Op op, size_t pos, NodePtr a) {
    std::vector<NodePtr> args;
    args.push_back(std::move(a));
    return Make(op, pos, std::move(args));
  }
  NodePtr Make(Op op, size_t pos, NodePtr a, NodePtr b) {
    std::vector<NodePtr> args;
    args.push_back(std::move(a));
    args.push_back(std::move(b));
    return Make(op, pos, std::move(args));
  }

  NodePtr TooDeep(size_t pos) {
    return Fail(pos, "formula nests too deeply (the limit is " + std::to_string(options_.max_depth) + " levels)");
  }

  // Guards every recursive entry point: nesting counts parentheses and unary chains even when
  // they add no tree height.
  class Nest {
   public:
    explicit Nest(Parser* p) : p_(p) { ++p_->nesting_; }
    ~Nest() { --p_->nesting_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
    bool too_deep() const { return p_->nesting_ > p_->options_.max_depth; }

   private:
    Parser* p_;
  };

  // expr := or ('?' expr ':' expr)?
  NodePtr ParseExpr() {
    Nest nest(this);
    if (nest.too_deep()) return TooDeep(Peek().pos);
    NodePtr cond = ParseOr();
    if (!cond) return nullptr;
    if (Peek().type != Tok::kQuestion) return cond;
    const Token& q = Take();
    NodePtr yes = ParseExpr();
    if (!yes) return nullptr;
    if (Peek().type != Tok::kColon) {
      return Fail(Peek().pos, "expected ':' of the conditional started by '?' at column " + Column(q.pos) + ", got " +
                                  Describe(Peek()));
    }
    Take();
    NodePtr no = ParseExpr();
    if (!no) return nullptr;
    std::vector<NodePtr> args;
    args.push_back(std::move(cond));
    args.push_back(std::move(yes));
    args.push_back(std::move(no));
    return Make(Op::kCond, q.pos, std::move(args));
  }

  // Column within its line, counted as FormatFailure counts it.
  std::string Column(size_t pos) const {
    size_t newline = text_.substr(0, pos).rfind('\n');
    size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    return std::to_string(pos - line_start + 1);
  }

  NodePtr ParseOr() {
    NodePtr left = ParseAnd();
    while (left && Peek().type == Tok::kOr) {
      size_t pos = Take().pos;
      NodePtr right = ParseAnd();
      if (!right) return nullptr;
      left = Make(Op::kOr, pos, std::move(left), std::move(right));
    }
    return left;
  }

  NodePtr ParseAnd() {
    NodePtr left = ParseEquality();
    while (left && Peek().type == Tok::kAnd) {
      size_t pos = Take().pos;
      NodePtr right = ParseEquality();
      if (!right) return nullptr;
      left = Make(Op::kAnd, pos, std::move(left), std::move(right));
    }
    return left;
  }

  static bool IsEquality(Tok t) { return t == Tok::kEq || t == Tok::kNe; }
  static bool IsRelational(Tok t) { return t == Tok::kLt || t == Tok::kLe || t == Tok::kGt || t == Tok::kGe; }
  static Op ComparisonOp(Tok t) {
    switch (t) {
      case Tok::kLt: return Op::kLt;
      case Tok::kLe: return Op::kLe;
      case Tok::kGt: return Op::kGt;
      case Tok::kGe: return Op::kGe;
      case Tok::kEq: return Op::kEq;
      default: return Op::kNe;
    }
  }

  // Comparisons do not chain: "a < b < c" means something else in C than in mathematics, so
  // it is an error that shows the intended spelling.
  NodePtr ParseEquality() {
    NodePtr left = ParseRelational();
    if (!left || !IsEquality(Peek().type)) return left;
    const Token& op = Take();
    NodePtr right = ParseRelational();
    if (!right) return nullptr;
    if (IsEquality(Peek().type) || IsRelational(Peek().type)) return ChainError(op);
    return Make(ComparisonOp(op.type), op.pos, std::move(left), std::move(right));
  }

  NodePtr ParseRelational() {
    NodePtr left = ParseAdditive();
    if (!left || !IsRelational(Peek().type)) return left;
    const Token& op = Take();
    NodePtr right = ParseAdditive();
    if (!right) return nullptr;
    if (IsRelational(Peek().type)) return ChainError(op);
    return Make(ComparisonOp(op.type), op.pos, std::move(left), std::move(right));
  }

  NodePtr ChainError(const Token& first) {
    return Fail(Peek().pos, "comparisons cannot be chained; write (a " + std::string(first.text) + " b) && (b " +
                                std::string(Peek().text) + " c)");
  }

  NodePtr ParseAdditive() {
    NodePtr left = ParseMultiplicative();
    while (left && (Peek().type == Tok::kPlus || Peek().type == Tok::kMinus)) {
      const Token& op = Take();
      NodePtr right = ParseMultiplicative();
      if (!right) return nullptr;
      left = Make(op.type == Tok::kPlus ? Op::kAdd : Op::kSub, op.pos, std::move(left), std::move(right));
    }
    return left;
  }

  NodePtr ParseMultiplicative() {
    NodePtr left = ParseUnary();
    while (left && (Peek().type == Tok::kStar || Peek().type == Tok::kSlash)) {
      const Token& op = Take();
      NodePtr right = ParseUnary();
      if (!right) return nullptr;
      left = Make(op.type == Tok::kStar ? Op::kMul : Op::kDiv, op.pos, std::move(left), std::move(right));
    }
    return left;
  }

  NodePtr ParseUnary() {
    if (Peek().type != Tok::kMinus && Peek().type != Tok::kNot) return ParsePrimary();
    Nest nest(this);
    if (nest.too_deep()) return TooDeep(Peek().pos);
    const Token& op = Take();
    NodePtr operand = ParseUnary();
    if (!operand) return nullptr;
    return Make(op.type == Tok::kMinus ? Op::kNeg : Op::kNot, op.pos, std::move(operand));
  }

  NodePtr ParsePrimary() {
    const Token& tok = Peek();
    switch (tok.type) {
      case Tok::kNumber: {
        Take();
        auto node = Make(Op::kNumber, tok.pos, std::vector<NodePtr>{});
        if (node) {
          node->number = tok.number;
          node->duration = tok.duration;
        }
        return node;
      }
      case Tok::kIdent: return ParseName();
      case Tok::kLParen: {
        Take();
        NodePtr inner = ParseExpr();
        if (!inner) return nullptr;
        if (Peek().type != Tok::kRParen) {
          return Fail(Peek().pos,
                      "expected ')' to close the '(' at column " + Column(tok.pos) + ", got " + Describe(Peek()));
        }
        Take();
        return inner;
      }
      default: return Fail(tok.pos, "expected a number, a signal, a function call or '(', got " + Describe(tok));
    }
  }

  NodePtr ParseName() {
    const Token& name = Take();
    if (Peek().type != Tok::kLParen) {
      if (++identifiers_ > options_.max_identifiers) {
        return Fail(name.pos, "formula names too many signals and variables (the limit is " +
                                  std::to_string(options_.max_identifiers) + ")");
      }
      auto node = Make(Op::kIdent, name.pos, std::vector<NodePtr>{});
      if (node) node->name = std::string(name.text);
      return node;
    }
    const Token& open = Take();
    std::vector<NodePtr> args;
    if (Peek().type != Tok::kRParen) {
      while (true) {
        NodePtr arg = ParseExpr();
        if (!arg) return nullptr;
        args.push_back(std::move(arg));
        if (Peek().type == Tok::kComma) {
          Take();
          continue;
        }
        if (Peek().type == Tok::kRParen) break;
        return Fail(Peek().pos, "expected ',' or ')' in the arguments of " + std::string(name.text) +
                                    "() opened at column " + Column(open.pos) + ", got " + Describe(Peek()));
      }
    }
    Take();  // ')'
    auto node = Make(Op::kCall, name.pos, std::move(args));
    if (node) node->name = std::string(name.text);
    return node;
  }

  std::string_view text_;
  const std::vector<Token>& tokens_;
  const Options& options_;
  Failure* failure_;
  size_t next_ = 0;
  int nesting_ = 0;
  int identifiers_ = 0;
  bool failed_ = false;
};

}  // namespace

NodePtr Parse(std::string_view text, const Options& options, Failure* failure) {
  if (text.size() > options.max_length) {
    *failure = {options.max_length, "formula is too long (" + std::to_string(text.size()) + " bytes; the limit is " +
                                        std::to_string(options.max_length) + ")"};
    return nullptr;
  }
  std::vector<Token> tokens;
  if (!Lex(text, &tokens, failure)) return nullptr;
  if (tokens.size() == 1) {
    *failure = {0, "formula is empty"};
    return nullptr;
  }
  Parser parser(text, tokens, options, failure);
  return parser.ParseAll();
}

}  // namespace nimscaler::formula::detail
