#include "admin/parser.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace verbatim::admin {
namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

// Typographic characters that PowerShell itself accepts in place of ASCII ones.
constexpr std::string_view kLeftSingle = "\xE2\x80\x98";
constexpr std::string_view kRightSingle = "\xE2\x80\x99";
constexpr std::string_view kLeftDouble = "\xE2\x80\x9C";
constexpr std::string_view kRightDouble = "\xE2\x80\x9D";
constexpr std::string_view kEnDash = "\xE2\x80\x93";
constexpr std::string_view kEmDash = "\xE2\x80\x94";
constexpr std::string_view kNbsp = "\xC2\xA0";

// Blanks out `PS C:\>` / `PS>` / `>>` prompts at line starts, keeping offsets and columns.
std::string strip_prompts(std::string_view text) {
  std::string out(text);
  size_t start = 0;
  while (start <= out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    size_t i = start;
    while (i < end && (out[i] == ' ' || out[i] == '\t')) ++i;
    if (i + 2 <= end && out.compare(i, 2, "PS") == 0 && i + 2 < end &&
        (out[i + 2] == ' ' || out[i + 2] == '>')) {
      const size_t gt = out.find('>', i + 2);
      const size_t quote = out.find_first_of("'\"", i + 2);
      if (gt != std::string::npos && gt < end && (quote == std::string::npos || quote > gt)) {
        size_t stop = gt + 1;
        if (stop < end && out[stop] == ' ') ++stop;
        std::fill(out.begin() + static_cast<long>(i), out.begin() + static_cast<long>(stop), ' ');
      }
    } else if (i + 2 <= end && out.compare(i, 2, ">>") == 0) {
      std::fill(out.begin() + static_cast<long>(i), out.begin() + static_cast<long>(i + 2), ' ');
    }
    start = end + 1;
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Script run() {
    Script s;
    if (src_.size() > kMaxScriptBytes) {
      fail("the script is larger than the limit of " + std::to_string(kMaxScriptBytes) + " bytes",
           0);
    } else {
      parse_statements(s.statements, /*until_paren=*/false);
    }
    if (error_) s.errors.push_back(*error_);
    s.source = std::move(src_);
    return s;
  }

 private:
  // --- positions and errors -----------------------------------------------------------
  Pos pos_at(size_t offset, size_t length = 1) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    return Pos{offset, line, offset - line_starts_[line - 1] + 1, std::max<size_t>(length, 1)};
  }
  void fail(std::string message, size_t offset, size_t length = 1) {
    if (!error_) error_ = ParseError{std::move(message), pos_at(offset, length)};
  }
  bool failed() const { return error_.has_value(); }

  bool at(std::string_view s) const { return src_.compare(i_, s.size(), s) == 0; }
  char peek(size_t k = 0) const { return i_ + k < src_.size() ? src_[i_ + k] : '\0'; }
  bool eof() const { return i_ >= src_.size(); }

  // Skips blanks, comments and backtick continuations; never a newline.
  void skip_blanks() {
    while (!eof()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
        ++i_;
      } else if (at(kNbsp)) {
        i_ += kNbsp.size();
      } else if (c == '`') {
        size_t j = i_ + 1;
        while (j < src_.size() && (src_[j] == ' ' || src_[j] == '\t' || src_[j] == '\r')) ++j;
        if (j < src_.size() && src_[j] == '\n') {
          i_ = j + 1;
        } else {
          return;
        }
      } else if (c == '#') {
        while (!eof() && peek() != '\n') ++i_;
      } else if (at("<#")) {
        const size_t end = src_.find("#>", i_ + 2);
        if (end == std::string::npos) {
          fail("Missing closing '#>' of the block comment.", i_, 2);
          i_ = src_.size();
          return;
        }
        i_ = end + 2;
      } else {
        return;
      }
    }
  }
  void skip_blanks_and_newlines() {
    for (;;) {
      skip_blanks();
      if (peek() == '\n' || peek() == ';') {
        ++i_;
      } else {
        return;
      }
    }
  }
  void skip_newlines_only() {
    for (;;) {
      skip_blanks();
      if (peek() == '\n') {
        ++i_;
      } else {
        return;
      }
    }
  }
  bool at_statement_end() {
    skip_blanks();
    return eof() || peek() == '\n' || peek() == ';' || peek() == ')';
  }
  bool at_dash() const { return peek() == '-' || at(kEnDash) || at(kEmDash); }
  size_t dash_len() const { return peek() == '-' ? 1 : 3; }
  bool at_param() const {
    if (!at_dash()) return false;
    const char next = i_ + dash_len() < src_.size() ? src_[i_ + dash_len()] : '\0';
    return is_alpha(next);
  }

  std::string statement_text(size_t from, size_t to) const {
    return join_statement_text(std::string_view(src_).substr(from, to - from));
  }

  // --- grammar ------------------------------------------------------------------------
  void parse_statements(std::vector<Statement>& out, bool until_paren) {
    for (;;) {
      skip_blanks_and_newlines();
      if (failed()) return;
      if (eof()) {
        if (until_paren) fail("Missing closing ')' in subexpression.", src_.size() - 1);
        return;
      }
      if (peek() == ')') {
        if (until_paren) return;
        fail("Unexpected token ')' in expression or statement.", i_);
        return;
      }
      Statement st;
      const size_t start = i_;
      st.pos = pos_at(start);
      if (peek() == '$') {
        // `$name = ...`?
        size_t j = i_ + 1;
        while (j < src_.size() && (is_name_char(src_[j]) || src_[j] == ':')) ++j;
        size_t k = j;
        while (k < src_.size() && (src_[k] == ' ' || src_[k] == '\t')) ++k;
        if (j > i_ + 1 && k < src_.size() && src_[k] == '=' &&
            (k + 1 >= src_.size() || src_[k + 1] != '=')) {
          st.assign = src_.substr(i_ + 1, j - i_ - 1);
          i_ = k + 1;
          skip_newlines_only();
        }
      }
      parse_pipeline(st.pipeline, 0);
      if (failed()) return;
      st.text = statement_text(start, i_);
      st.end = i_;
      out.push_back(std::move(st));
      skip_blanks();
      if (!eof() && peek() != '\n' && peek() != ';' && peek() != ')') {
        fail("Unexpected token '" + std::string(1, peek()) + "' in expression or statement.", i_);
        return;
      }
    }
  }

  void parse_pipeline(Pipeline& p, int depth) {
    if (depth > kMaxNesting) {
      fail("The script is nested too deeply.", i_);
      return;
    }
    skip_blanks();
    p.pos = pos_at(i_);
    bool first = true;
    for (;;) {
      skip_blanks();
      if (failed()) return;
      const char c = peek();
      const bool expression_start = c == '$' || c == '\'' || c == '"' || c == '(' || at("@(") ||
                                    at(kLeftSingle) || at(kRightSingle) || at(kLeftDouble) ||
                                    at(kRightDouble) || is_digit(c);
      if (first && expression_start) {
        p.head = parse_value_list(depth + 1);
      } else if (eof() || c == '\n' || c == ';' || c == ')' || c == '|') {
        fail(first ? "An empty pipe element is not allowed."
                   : "An empty pipe element is not allowed.",
             i_);
        return;
      } else if (c == '{') {
        fail(
            "Script blocks ({ ... }) are not supported by Verbatim's cmdlet interpreter; "
            "use -Identity or -Filter instead of Where-Object/ForEach-Object.",
            i_);
        return;
      } else {
        Command cmd;
        parse_command(cmd, depth);
        p.commands.push_back(std::move(cmd));
      }
      if (failed()) return;
      first = false;
      skip_blanks();
      if (peek() != '|') return;
      ++i_;
      skip_newlines_only();
    }
  }

  void parse_command(Command& cmd, int depth) {
    const size_t start = i_;
    while (!eof() && !std::isspace(static_cast<unsigned char>(peek())) &&
           std::string_view("|;(),{}'\"").find(peek()) == std::string_view::npos) {
      ++i_;
    }
    if (i_ == start) {
      fail("Unexpected token '" + std::string(1, peek()) + "' in expression or statement.", i_);
      return;
    }
    cmd.name = src_.substr(start, i_ - start);
    cmd.pos = pos_at(start, i_ - start);
    for (;;) {
      if (at_statement_end() || peek() == '|' || failed()) return;
      Arg arg;
      arg.pos = pos_at(i_);
      if (at_param()) {
        const size_t pstart = i_;
        i_ += dash_len();
        const size_t name_start = i_;
        while (!eof() && is_name_char(peek())) ++i_;
        arg.is_param = true;
        arg.param = src_.substr(name_start, i_ - name_start);
        arg.pos = pos_at(pstart, i_ - pstart);
        if (peek() == ':') {
          ++i_;
          arg.has_inline_value = true;
          arg.value = parse_primary(depth + 1);
        }
      } else if (peek() == '{') {
        fail("Script blocks ({ ... }) are not supported by Verbatim's cmdlet interpreter.", i_);
        return;
      } else if (peek() == ',') {
        fail("Missing argument in parameter list.", i_);
        return;
      } else {
        arg.value = parse_value_list(depth + 1);
      }
      cmd.args.push_back(std::move(arg));
    }
  }

  // primary (',' primary)*
  ExprPtr parse_value_list(int depth) {
    const size_t start = i_;
    ExprPtr first = parse_primary(depth);
    skip_blanks();
    if (failed() || peek() != ',') return first;
    auto list = std::make_unique<Expr>();
    list->kind = Expr::Kind::kList;
    list->pos = pos_at(start);
    list->items.push_back(std::move(first));
    while (!failed() && peek() == ',') {
      ++i_;
      skip_newlines_only();
      list->items.push_back(parse_primary(depth));
      skip_blanks();
    }
    return list;
  }

  ExprPtr parse_primary(int depth) {
    auto e = std::make_unique<Expr>();
    if (depth > kMaxNesting) {
      fail("The script is nested too deeply.", i_);
      return e;
    }
    skip_blanks();
    const size_t start = i_;
    e->pos = pos_at(start);
    if (eof() || peek() == '\n' || peek() == ';' || peek() == '|' || peek() == ')') {
      fail("Missing expression.", std::min(i_, src_.empty() ? 0 : src_.size() - 1));
      return e;
    }
    if (peek() == '\'' || at(kLeftSingle) || at(kRightSingle)) {
      parse_single_quoted(*e);
    } else if (peek() == '"' || at(kLeftDouble) || at(kRightDouble)) {
      parse_double_quoted(*e);
    } else if (peek() == '$' && peek(1) == '(') {
      i_ += 2;
      e->kind = Expr::Kind::kParen;
      e->pipeline = std::make_unique<Pipeline>();
      skip_newlines_only();
      parse_pipeline(*e->pipeline, depth + 1);
      close_paren(start);
    } else if (peek() == '$') {
      ++i_;
      const size_t name_start = i_;
      while (!eof() && (is_name_char(peek()) || peek() == ':')) ++i_;
      if (i_ == name_start) {
        fail("Variable reference is not valid: '$' was not followed by a name.", start);
        return e;
      }
      e->kind = Expr::Kind::kVariable;
      e->text = src_.substr(name_start, i_ - name_start);
    } else if (at("@(")) {
      i_ += 2;
      e->kind = Expr::Kind::kArraySub;
      parse_statements(e->statements, /*until_paren=*/true);
      close_paren(start);
    } else if (peek() == '(') {
      ++i_;
      e->kind = Expr::Kind::kParen;
      e->pipeline = std::make_unique<Pipeline>();
      skip_newlines_only();
      parse_pipeline(*e->pipeline, depth + 1);
      skip_newlines_only();
      close_paren(start);
    } else {
      while (!eof() && !std::isspace(static_cast<unsigned char>(peek())) &&
             std::string_view("|;(),{}").find(peek()) == std::string_view::npos && !at(kNbsp)) {
        ++i_;
      }
      if (i_ == start) {
        // Nothing a value can start with (a stray '}' for instance): never loop on it.
        fail("Unexpected token '" + std::string(1, peek()) + "' in expression or statement.", i_);
        return e;
      }
      e->kind = Expr::Kind::kString;
      e->bareword = true;
      e->text = src_.substr(start, i_ - start);
      const std::string& t = e->text;
      const size_t digits_from = (!t.empty() && t[0] == '-') ? 1 : 0;
      if (t.size() > digits_from && t.size() < 19 &&
          std::all_of(t.begin() + static_cast<long>(digits_from), t.end(), is_digit)) {
        e->kind = Expr::Kind::kNumber;
        e->number = std::stoll(t);
      }
    }
    e->pos.length = std::max<size_t>(i_ - start, 1);
    // .Property access directly after a variable or parenthesised expression.
    while (!failed() &&
           (e->kind == Expr::Kind::kVariable || e->kind == Expr::Kind::kParen ||
            e->kind == Expr::Kind::kMember || e->kind == Expr::Kind::kArraySub) &&
           peek() == '.' && is_alpha(peek(1))) {
      ++i_;
      const size_t name_start = i_;
      while (!eof() && is_name_char(peek())) ++i_;
      auto m = std::make_unique<Expr>();
      m->kind = Expr::Kind::kMember;
      m->pos = pos_at(start, i_ - start);
      m->text = src_.substr(name_start, i_ - name_start);
      m->base = std::move(e);
      e = std::move(m);
    }
    return e;
  }

  void close_paren(size_t open) {
    if (failed()) return;
    skip_blanks_and_newlines();
    if (peek() != ')') {
      fail("Missing closing ')' in expression.", open);
      return;
    }
    ++i_;
  }

  void parse_single_quoted(Expr& e) {
    const size_t start = i_;
    i_ += peek() == '\'' ? 1 : 3;
    e.kind = Expr::Kind::kString;
    for (;;) {
      if (eof()) {
        fail("The string is missing the terminator: '.", start);
        return;
      }
      if (peek() == '\'' || at(kRightSingle) || at(kLeftSingle)) {
        const size_t n = peek() == '\'' ? 1 : 3;
        if (peek() == '\'' && peek(1) == '\'') {
          e.text += '\'';
          i_ += 2;
          continue;
        }
        i_ += n;
        return;
      }
      e.text += peek();
      ++i_;
    }
  }

  void parse_double_quoted(Expr& e) {
    const size_t start = i_;
    i_ += peek() == '"' ? 1 : 3;
    e.kind = Expr::Kind::kString;
    e.bareword = false;
    e.expandable = true;
    for (;;) {
      if (eof()) {
        fail("The string is missing the terminator: \".", start);
        return;
      }
      const char c = peek();
      if (c == '"' || at(kRightDouble) || at(kLeftDouble)) {
        if (c == '"' && peek(1) == '"') {
          e.text += '"';
          i_ += 2;
          continue;
        }
        i_ += c == '"' ? 1 : 3;
        return;
      }
      if (c == '`' && i_ + 1 < src_.size()) {
        const char n = src_[i_ + 1];
        e.text += n == 'n' ? '\n' : n == 't' ? '\t' : n == '0' ? '\0' : n;
        i_ += 2;
        continue;
      }
      e.text += c;
      ++i_;
    }
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  size_t i_ = 0;
  std::optional<ParseError> error_;
};

}  // namespace

std::string join_statement_text(std::string_view raw) {
  std::string out;
  for (size_t k = 0; k < raw.size(); ++k) {
    if (raw[k] == '`') {
      size_t j = k + 1;
      while (j < raw.size() && (raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\r')) ++j;
      if (j < raw.size() && raw[j] == '\n') {
        out += ' ';
        k = j;
        continue;
      }
    }
    if (raw[k] == '\r') continue;
    out += raw[k] == '\n' ? ' ' : raw[k];
  }
  // Collapse runs of blanks introduced by continuations.
  std::string collapsed;
  for (char c : out) {
    if (c == ' ' && !collapsed.empty() && collapsed.back() == ' ') continue;
    collapsed += c;
  }
  while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
  while (!collapsed.empty() && collapsed.front() == ' ') collapsed.erase(0, 1);
  return collapsed;
}

Script parse_script(std::string_view text) { return Parser(strip_prompts(text)).run(); }

bool needs_more_input(std::string_view text) {
  const Script s = parse_script(text);
  // The last thing that is not a blank or a comment: a continuation mark asks for more.
  std::string_view src = s.source;
  while (!src.empty() && std::isspace(static_cast<unsigned char>(src.back()))) src.remove_suffix(1);
  if (s.errors.empty()) {
    // A trailing '`', '|' or ',' outside comments leaves a statement open (the parser may accept
    // what came before it).
    if (src.empty()) return false;
    const char last = src.back();
    if (last != '`' && last != '|' && last != ',') return false;
    const size_t line_start = src.rfind('\n') == std::string_view::npos ? 0 : src.rfind('\n') + 1;
    return src.substr(line_start).find('#') == std::string_view::npos;
  }
  const ParseError& e = s.errors.front();
  if (e.message.rfind("Missing closing", 0) == 0 ||
      e.message.rfind("The string is missing the terminator", 0) == 0) {
    return true;
  }
  // An expression or pipe element that was still to come when the input ended.
  return (e.message == "Missing expression." ||
          e.message == "An empty pipe element is not allowed." ||
          e.message == "Missing argument in parameter list.") &&
         e.pos.offset + 1 >= src.size();
}

std::string_view source_line(std::string_view source, size_t line) {
  size_t start = 0;
  for (size_t l = 1; l < line; ++l) {
    const size_t nl = source.find('\n', start);
    if (nl == std::string_view::npos) return {};
    start = nl + 1;
  }
  size_t end = source.find('\n', start);
  if (end == std::string_view::npos) end = source.size();
  std::string_view out = source.substr(start, end - start);
  if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
  return out;
}

}  // namespace verbatim::admin
