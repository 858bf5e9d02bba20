// Parser for the PowerShell subset that Teams admins paste.
//
// Accepts: `PS C:\>` and `>>` prompts, `#` and `<# #>` comments, backtick line
// continuation, `;` and newlines between statements, pipelines with `|` (continued on the
// next line after a trailing `|`), `$var = ...` assignments, `-Param value`, `-Param:value`,
// switches, positional arguments, barewords, single- and double-quoted strings (also the
// typographic quotes and en-dashes that web pages and Word substitute), integers,
// `$true/$false/$null`, comma lists, `(pipeline)`, `$(...)`, `@(...)` and `.Property` access.
// Hand-written: no library parses PowerShell, and error positions must match what an admin
// sees. Bounded: nesting depth and input size are limited, so fuzzed input cannot exhaust
// the stack. Produces an AST; evaluation is in interpreter.h.
// Threads and ownership: pure functions over the script text; the AST owns copies of what it
// names; any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace verbatim::admin {

struct Pos {
  size_t offset = 0;  // into the source
  size_t line = 1;    // 1-based
  size_t column = 1;  // 1-based, in bytes
  size_t length = 1;
};

struct Pipeline;
struct Statement;

struct Expr {
  enum class Kind { kString, kNumber, kVariable, kList, kParen, kArraySub, kMember };
  Kind kind = Kind::kString;
  Pos pos;
  std::string text;  // string value, variable or member name
  int64_t number = 0;
  std::vector<std::unique_ptr<Expr>> items;  // kList
  std::unique_ptr<Pipeline> pipeline;        // kParen
  std::vector<Statement> statements;         // kArraySub
  std::unique_ptr<Expr> base;                // kMember
  bool bareword = false;                     // kString written without quotes
  bool expandable = false;                   // kString in double quotes: "$var" substituted
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arg {
  bool is_param = false;
  std::string param;              // without the dash
  bool has_inline_value = false;  // -Name:value
  ExprPtr value;                  // the value of a positional argument or an inline value
  Pos pos;
};

struct Command {
  std::string name;
  Pos pos;
  std::vector<Arg> args;
};

struct Pipeline {
  ExprPtr head;  // when the pipeline starts with an expression rather than a command
  std::vector<Command> commands;
  Pos pos;
};

struct Statement {
  std::string assign;  // variable name for `$x = ...`, else empty
  Pipeline pipeline;
  Pos pos;
  size_t end = 0;    // offset just past the statement in the source
  std::string text;  // source text, continuation lines joined, prompts removed
};

// Statement text as `text` keeps it: backtick continuations and line breaks joined into one
// line, runs of blanks collapsed, trimmed.
std::string join_statement_text(std::string_view raw);

struct ParseError {
  std::string message;
  Pos pos;
};

struct Script {
  std::vector<Statement> statements;
  std::string source;              // after prompt removal, same offsets and lines as the input
  std::vector<ParseError> errors;  // empty on success; parsing stops at the first
};

inline constexpr size_t kMaxScriptBytes = 4 << 20;
inline constexpr int kMaxNesting = 64;

Script parse_script(std::string_view text);

// Whether `text` stops in the middle of a statement — an open quote, parenthesis or block comment,
// or a trailing backtick, pipe or comma — so an interactive shell reads another line (">> "), as
// PowerShell does. Decided by the parser itself: a '#' comment is a comment, quotes in it do not
// count.
bool needs_more_input(std::string_view text);

// The source line `line` (1-based) of `source`, without its newline.
std::string_view source_line(std::string_view source, size_t line);

}  // namespace verbatim::admin
