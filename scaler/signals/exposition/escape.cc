// Exports AppendUnescaped(), UnescapeHelp(), IsValidUtf8() and CountRunes().
#include "scaler/signals/exposition/escape.h"

#include <cstdint>
#include <cstring>

namespace nimscaler::exposition {

void AppendUnescaped(std::string_view raw, std::string* out) {
  size_t i = 0;
  while (i < raw.size()) {
    const void* hit = std::memchr(raw.data() + i, '\\', raw.size() - i);
    if (hit == nullptr) {
      out->append(raw.data() + i, raw.size() - i);
      return;
    }
    const size_t b = static_cast<size_t>(static_cast<const char*>(hit) - raw.data());
    out->append(raw.data() + i, b - i);
    if (b + 1 >= raw.size()) {  // a lone trailing backslash stays
      out->push_back('\\');
      return;
    }
    const char e = raw[b + 1];
    if (e == 'n') {
      out->push_back('\n');
    } else if (e == '\\' || e == '"') {
      out->push_back(e);
    } else {
      out->push_back('\\');
      out->push_back(e);
    }
    i = b + 2;
  }
}

void UnescapeHelp(std::string_view raw, Format format, std::string* out) {
  const bool quote_escape = format == Format::kOpenMetrics;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      const char e = raw[i + 1];
      if (e == 'n') {
        out->push_back('\n');
        ++i;
        continue;
      }
      if (e == '\\' || (quote_escape && e == '"')) {
        out->push_back(e);
        ++i;
        continue;
      }
    }
    out->push_back(c);
  }
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += len;
  }
  return true;
}

size_t CountRunes(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace nimscaler::exposition
