// Character classes of the SIP grammar (RFC 3261 §25.1), as one 256-entry table so the hot
// paths of the parser test a byte with one load and a mask.
// Threads and ownership: constants and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace verbatim::sip {

enum CharClass : uint16_t {
  kAlnum = 1 << 0,
  kMark = 1 << 1,             // - _ . ! ~ * ' ( )
  kTokenExtra = 1 << 2,       // - . ! % * _ + ` ' ~   (token = 1*(alphanum / these))
  kUserUnreserved = 1 << 3,   // & = + $ , ; ? /
  kPasswordExtra = 1 << 4,    // & = + $ ,
  kParamUnreserved = 1 << 5,  // [ ] / : & + $
  kHnvUnreserved = 1 << 6,    // [ ] / ? : + $
  kWordExtra = 1 << 7,        // token extras plus ( ) < > : \ " / [ ] ? { }
  kWs = 1 << 8,               // SP HTAB
  kDigit = 1 << 9,
  kHex = 1 << 10,
  kAlpha = 1 << 11,
  kSchemeExtra = 1 << 12,  // + - .
  kUriChar = 1 << 13,      // anything an absoluteURI may hold unescaped (no space, < >, ")
};

constexpr std::array<uint16_t, 256> make_char_table() {
  std::array<uint16_t, 256> t{};
  auto add = [&](std::string_view chars, uint16_t cls) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = '0'; c <= '9'; ++c) t[c] |= kAlnum | kDigit | kHex;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kAlnum | kAlpha;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kAlnum | kAlpha;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kHex;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kHex;
  add("-_.!~*'()", kMark);
  add("-.!%*_+`'~", kTokenExtra);
  add("&=+$,;?/", kUserUnreserved);
  add("&=+$,", kPasswordExtra);
  add("[]/:&+$", kParamUnreserved);
  add("[]/?:+$", kHnvUnreserved);
  add("-.!%*_+`'~()<>:\\\"/[]?{}", kWordExtra);
  add(" \t", kWs);
  add("+-.", kSchemeExtra);
  for (int c = 0x21; c < 0x7f; ++c) {
    if (c != '<' && c != '>' && c != '"') t[c] |= kUriChar;
  }
  return t;
}

inline constexpr std::array<uint16_t, 256> kCharTable = make_char_table();

inline bool is(char c, uint16_t cls) { return kCharTable[static_cast<unsigned char>(c)] & cls; }
inline bool is_token_char(char c) { return is(c, kAlnum | kTokenExtra); }
inline bool is_unreserved(char c) { return is(c, kAlnum | kMark); }
inline bool is_ws(char c) { return c == ' ' || c == '\t'; }

// 1*token-char
inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// Strips SP, HTAB, CR and LF (folded lines) from both ends.
inline std::string_view trim_lws(std::string_view s) {
  auto lws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && lws(s.front())) s.remove_prefix(1);
  while (!s.empty() && lws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace verbatim::sip
