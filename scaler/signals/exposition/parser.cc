// Exports Parser (the zero-copy exposition parser), DetectFormat(), ParseSelected() and the
// small helpers declared in types.h (FormatName, MetricTypeName, ParseError::ToString).
//
// How it is fast: the body is cut into lines with memchr, and each line is lexed once with
// byte-class tables, bounded by its newline (no quoted string can contain a raw newline, so
// a line never needs the next one). Names and label values stay views into the body;
// a value is unescaped only if it contains a backslash and the sample is selected (or, in
// OpenMetrics, checked). Short decimal values take an exact fast path. Family lookups in
// the Selector happen once per family run, sample-name lookups once per line and only when
// the caller asked for sample names. Scratch vectors live in the Parser and keep their
// capacity, so a warm parser does no heap allocation at all.
//
// Hot loops kept whole although over 80 lines (issue 17): FastSampleLine, GeneralSampleLine,
// ParseLabels and FinishSample run once per line or label; each is one pass over the bytes with
// its state in locals, and splitting them moves that state through memory on every line (the
// parser table in BENCHMARKS.md is the check).
#include "scaler/signals/exposition/parser.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "scaler/signals/exposition/escape.h"
#include "scaler/signals/exposition/number.h"
#include "scaler/signals/exposition/om_checker.h"

namespace nimscaler::exposition {

const char* FormatName(Format format) { return format == Format::kOpenMetrics ? "openmetrics" : "prometheus-text"; }

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kUntyped: return "untyped";
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kGaugeHistogram: return "gaugehistogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kStateset: return "stateset";
  }
  return "untyped";
}

std::string ParseError::ToString() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message + ": " + excerpt;
}

namespace {

// Byte classes.
enum : uint8_t {
  kMetricStart = 1,  // [a-zA-Z_:]
  kMetricChar = 2,   // [a-zA-Z0-9_:]
  kLabelStart = 4,   // [a-zA-Z_]
  kLabelChar = 8,    // [a-zA-Z0-9_]
  kBlank = 16,       // ' ' '\t'
  kQuoteStop = 32,   // '"' '\\' and bytes >= 0x80 (inside a quoted string)
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    uint8_t v = 0;
    if (alpha || c == '_' || c == ':') v |= kMetricStart;
    if (alpha || digit || c == '_' || c == ':') v |= kMetricChar;
    if (alpha || c == '_') v |= kLabelStart;
    if (alpha || digit || c == '_') v |= kLabelChar;
    if (c == ' ' || c == '\t') v |= kBlank;
    if (c == '"' || c == '\\' || c >= 0x80) v |= kQuoteStop;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClass = MakeClasses();

inline bool Is(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }

inline uint8_t Cls(const char* p, int i) { return kClass[static_cast<unsigned char>(p[i])]; }

inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Scanners. Each returns the first position in [p, eol) that ends the run it scans, or eol.
// With SSE2 (every x86-64) they test 16 bytes per step; the loads may run past eol (a line
// ends at its newline, and names and values are short, so most runs end in one step) but
// never past `limit`, the end of the body. Bytes past eol are ignored.
#if defined(__SSE2__)
inline __m128i Load16(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

inline uint32_t Mask16(__m128i is) { return static_cast<uint32_t>(_mm_movemask_epi8(is)); }

// Bytes of x in [lo, lo + n): one add and one signed compare (the add moves the range to the
// bottom of the signed byte range).
inline __m128i InRange(__m128i x, char lo, int n) {
  const __m128i shifted = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(128 - lo)));
  return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + n)));
}

// Bit i set when byte i is NOT a name byte: [a-zA-Z0-9_] plus ':' when `colon`.
template <bool kColon>
inline uint32_t NotNameMask(const char* p) {
  const __m128i x = Load16(p);
  const __m128i alpha = InRange(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 26);
  const __m128i digit = InRange(x, '0', 10);
  __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
  if (kColon) ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, _mm_set1_epi8(':')));
  return ~Mask16(ok) & 0xFFFFu;
}

// Bit i set when byte i is '"', '\\' or >= 0x80.
template <bool kNewline>
inline uint32_t QuoteStopMask(const char* p) {
  const __m128i x = Load16(p);
  __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
  if (kNewline) hit = _mm_or_si128(hit, _mm_cmpeq_epi8(x, _mm_set1_epi8('\n')));
  return Mask16(_mm_or_si128(hit, x));  // x contributes its top bit: bytes >= 0x80
}
#endif

// Over name bytes: metric names ([a-zA-Z0-9_:]) when kColon, label names otherwise.
template <bool kColon>
__attribute__((always_inline)) inline const char* SkipName(const char* p, const char* eol, const char* limit) {
#if defined(__SSE2__)
  // No `p < eol` test per step: the byte at eol is '\n' or '\r' (never a name byte) unless
  // eol == limit, so a run always stops by eol; the result is still clamped to eol.
  while (limit - p >= 16) {
    if (const uint32_t m = NotNameMask<kColon>(p)) {
      p += __builtin_ctz(m);
      return p < eol ? p : eol;
    }
    p += 16;
  }
  if (p >= eol) return eol;
#else
  (void)limit;
#endif
  const uint8_t cls = kColon ? kMetricChar : kLabelChar;
  while (p < eol && Is(*p, cls)) ++p;
  return p;
}

// Up to the next '"', '\\' or non-ASCII byte (inside a quoted string), and also '\n' when
// kNewline (for callers that do not know where the line ends).
template <bool kNewline = false>
__attribute__((always_inline)) inline const char* FindQuoteStop(const char* p, const char* eol, const char* limit) {
#if defined(__SSE2__)
  while (p < eol && limit - p >= 16) {
    if (const uint32_t m = QuoteStopMask<kNewline>(p)) {
      p += __builtin_ctz(m);
      return p < eol ? p : eol;
    }
    p += 16;
  }
  if (p >= eol) return eol;
#else
  (void)limit;
#endif
  while (p < eol && !Is(*p, kQuoteStop) && !(kNewline && *p == '\n')) ++p;
  return p;
}

// Up to the first '\n' or byte >= 0x80 in [p, end); end when none.
__attribute__((always_inline)) inline const char* FindNewlineOrHigh(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i x = Load16(p);
    if (const uint32_t m = Mask16(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')), x))) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
#endif
  while (p < end && *p != '\n' && static_cast<unsigned char>(*p) < 0x80) ++p;
  return p;
}

// Bytewise equality for short runs (names): no call; 16 bytes per step with SSE2, and the
// last partial step overlaps the previous one instead of looping over single bytes.
__attribute__((always_inline)) inline bool SameBytes(const char* a, const char* b, size_t n) {
#if defined(__SSE2__)
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      if (Mask16(_mm_cmpeq_epi8(Load16(a + i), Load16(b + i))) != 0xFFFFu) return false;
    }
    return i == n || Mask16(_mm_cmpeq_epi8(Load16(a + n - 16), Load16(b + n - 16))) == 0xFFFFu;
  }
#endif
  if (n >= 8) {
    uint64_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 8);
    std::memcpy(&y0, b, 8);
    std::memcpy(&x1, a + n - 8, 8);
    std::memcpy(&y1, b + n - 8, 8);
    if (n <= 16) return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    while (n > 16) {  // without SSE2
      if (x0 != y0) return false;
      a += 8;
      b += 8;
      n -= 8;
      std::memcpy(&x0, a, 8);
      std::memcpy(&y0, b, 8);
    }
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  if (n >= 4) {
    uint32_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 4);
    std::memcpy(&y0, b, 4);
    std::memcpy(&x1, a + n - 4, 4);
    std::memcpy(&y1, b + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Flags kept per parsed label.
enum : uint8_t { kValueEscaped = 1, kNameEscaped = 2 };

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && SameBytes(s.data(), prefix.data(), prefix.size());
}

// ASCII fast path before the full UTF-8 check.
bool Utf8Ok(std::string_view s) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= s.size(); i += 16) {
    if (Mask16(Load16(s.data() + i)) != 0) return IsValidUtf8(s.substr(i));
  }
#endif
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) return IsValidUtf8(s.substr(i));
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return IsValidUtf8(s.substr(i));
  }
  return true;
}

// `s` equals the literal `lit` (inlined: the length is a constant).
template <size_t N>
inline bool Eq(std::string_view s, const char (&lit)[N]) {
  return s.size() == N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

// Role of a sample whose name is `family` + `suffix`, or nullopt if the type does not allow
// that suffix (then the sample starts a new, untyped family).
__attribute__((always_inline)) inline std::optional<SampleRole> RoleFor(std::string_view suffix, MetricType type,
                                                                        bool om) {
  // 0.0.4 has no _gsum/_gcount: a gauge histogram there is spelled like a histogram.
  if (!om && type == MetricType::kGaugeHistogram) type = MetricType::kHistogram;
  if (suffix.empty()) {
    switch (type) {
      case MetricType::kCounter:
        if (om) return std::nullopt;
        return SampleRole::kValue;
      case MetricType::kInfo:
      case MetricType::kGaugeHistogram: return std::nullopt;
      case MetricType::kHistogram:
        // 0.0.4 exporters sometimes drop `_bucket` (Triton's docs); expfmt reads them as
        // buckets. OpenMetrics does not allow it.
        if (om) return std::nullopt;
        return SampleRole::kValue;
      default: return SampleRole::kValue;
    }
  }
  switch (type) {
    case MetricType::kCounter:
      if (!om) return std::nullopt;
      if (Eq(suffix, "_total")) return SampleRole::kTotal;
      if (Eq(suffix, "_created")) return SampleRole::kCreated;
      return std::nullopt;
    case MetricType::kSummary:
      if (Eq(suffix, "_sum")) return SampleRole::kSum;
      if (Eq(suffix, "_count")) return SampleRole::kCount;
      if (om && Eq(suffix, "_created")) return SampleRole::kCreated;
      return std::nullopt;
    case MetricType::kHistogram:
      if (Eq(suffix, "_bucket")) return SampleRole::kBucket;
      if (Eq(suffix, "_sum")) return SampleRole::kSum;
      if (Eq(suffix, "_count")) return SampleRole::kCount;
      if (om && Eq(suffix, "_created")) return SampleRole::kCreated;
      return std::nullopt;
    case MetricType::kGaugeHistogram:
      if (Eq(suffix, "_bucket")) return SampleRole::kBucket;
      if (Eq(suffix, "_gsum")) return SampleRole::kGSum;
      if (Eq(suffix, "_gcount")) return SampleRole::kGCount;
      return std::nullopt;
    case MetricType::kInfo:
      if (Eq(suffix, "_info")) return SampleRole::kInfo;
      return std::nullopt;
    default: return std::nullopt;
  }
}

std::optional<MetricType> TypeFromWord(std::string_view w, bool om) {
  if (Eq(w, "counter")) return MetricType::kCounter;
  if (Eq(w, "gauge")) return MetricType::kGauge;
  if (Eq(w, "histogram")) return MetricType::kHistogram;
  if (Eq(w, "summary")) return MetricType::kSummary;
  if (om) {
    if (Eq(w, "unknown")) return MetricType::kUntyped;
    if (Eq(w, "gaugehistogram")) return MetricType::kGaugeHistogram;
    if (Eq(w, "info")) return MetricType::kInfo;
    if (Eq(w, "stateset")) return MetricType::kStateset;
  } else {
    if (Eq(w, "untyped")) return MetricType::kUntyped;
    // Newer expfmt reads these (its enum name upper-cased); Go clients may emit them.
    if (Eq(w, "gaugehistogram") || Eq(w, "gauge_histogram")) return MetricType::kGaugeHistogram;
  }
  return std::nullopt;
}

std::string MakeExcerpt(std::string_view line, size_t column) {
  // Keep at most ~80 bytes around the column; show control and non-ASCII bytes as \xNN so a
  // hostile body cannot inject terminal escapes into logs.
  constexpr size_t kMax = 80;
  size_t begin = 0;
  if (line.size() > kMax && column > kMax / 2) begin = std::min(column - kMax / 2, line.size() - kMax);
  std::string_view cut = line.substr(begin, kMax);
  std::string out;
  if (begin > 0) out += "...";
  for (char ch : cut) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  if (begin + cut.size() < line.size()) out += "...";
  return out;
}

// Declared TYPE per family name within one 0.0.4 body (open addressing on the name hash;
// keeps its capacity across bodies).
class TypeTable {
 public:
  void Clear() {
    if (size_ == 0) return;
    std::fill(keys_.begin(), keys_.end(), 0);
    size_ = 0;
  }
  void Put(uint64_t h, MetricType t) {
    if (h == 0) h = 1;
    if ((size_ + 1) * 2 > keys_.size()) Grow();
    const size_t mask = keys_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      if (keys_[i] == h || keys_[i] == 0) {
        if (keys_[i] == 0) ++size_;
        keys_[i] = h;
        types_[i] = t;
        return;
      }
    }
  }
  std::optional<MetricType> Get(uint64_t h) const {
    if (size_ == 0) return std::nullopt;
    if (h == 0) h = 1;
    const size_t mask = keys_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      if (keys_[i] == h) return types_[i];
      if (keys_[i] == 0) return std::nullopt;
    }
  }
  bool empty() const { return size_ == 0; }

 private:
  void Grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<MetricType> old_types = std::move(types_);
    const size_t cap = old_keys.empty() ? 256 : old_keys.size() * 2;
    keys_.assign(cap, 0);
    types_.assign(cap, MetricType::kUntyped);
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] != 0) Put(old_keys[i], old_types[i]);
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<MetricType> types_;
  size_t size_ = 0;
};

}  // namespace

// ------------------------------------------------------------------------------------------

struct Parser::Impl {
  explicit Impl(Options o) : opt(o) {
    labels.reserve(32);
    label_flags.reserve(32);
    ex_labels.reserve(8);
    ex_flags.reserve(8);
    scratch.reserve(1024);
    pending_types.reserve(256);
    name_scratch.reserve(256);
  }

  struct FamilyState {
    std::string_view name;
    MetricType type = MetricType::kUntyped;
    bool typed = false;
    bool active = false;  // a family run is open
    bool reported = false;
    bool bare = false;  // `name` is a valid bare metric name (all [a-zA-Z0-9_:])
    bool has_samples = false;
    bool help_seen = false;
    bool unit_seen = false;
    std::string_view help;
    std::string_view unit;
    int entry = -1;
  };

  // Configuration and per-call inputs.
  Options opt;
  Format format = Format::kPrometheusText;
  bool om = false;
  bool strict = false;  // Strictness::kSpec
  const Selector* sel = nullptr;
  SampleVisitor* vis = nullptr;

  // Position.
  const char* line_begin = nullptr;
  const char* line_end = nullptr;
  const char* body_end = nullptr;  // scanners may load up to here
  uint32_t line_no = 0;
  bool fatal = false;  // error that kSkipLine cannot skip
  ParseError error;
  bool have_error = false;
  ParseStats stats;

  // Family and sample state.
  FamilyState fam;
  std::string fam_name_buf;  // family name when it had to be unescaped
  SampleRole role = SampleRole::kValue;
  std::vector<Label> labels;
  std::vector<uint8_t> label_flags;
  std::vector<Label> ex_labels;
  std::vector<uint8_t> ex_flags;
  std::string scratch;       // unescaped label values of the current line
  std::string name_scratch;  // unescaped quoted metric name of the current line
  Exemplar exemplar;
  detail::OmChecker om_checker;
  TypeTable declared_types;  // 0.0.4: TYPE by family name, for families split by other lines
  // TYPE lines not yet hashed into declared_types (names are views into the body). Most
  // bodies never look a TYPE up, so hashing waits for the first lookup.
  std::vector<std::pair<std::string_view, MetricType>> pending_types;

  void FlushPendingTypes() {
    for (const auto& [n, t] : pending_types) declared_types.Put(Selector::Hash(n), t);
    pending_types.clear();
  }

  bool Fail(const char* at, std::string message, bool is_fatal = false) {
    if (have_error && opt.error_policy == ErrorPolicy::kSkipLine && !is_fatal) {
      // Keep the first error; later ones only count.
      fatal = false;
      return false;
    }
    const std::string_view line(line_begin, static_cast<size_t>(line_end - line_begin));
    size_t col = at >= line_begin ? static_cast<size_t>(at - line_begin) : 0;
    if (col > line.size()) col = line.size();
    error.line = line_no;
    error.column = static_cast<uint32_t>(col + 1);
    error.message = std::move(message);
    error.excerpt = MakeExcerpt(line, col);
    have_error = true;
    fatal = is_fatal;
    return false;
  }

  // ---- families ----------------------------------------------------------------------

  void Report() {
    if (fam.reported) return;
    fam.reported = true;
    if (!sel->selects_all() && !sel->empty()) fam.entry = sel->FindFamily(fam.name, fam.type);
    Family f;
    f.name = fam.name;
    f.type = fam.type;
    f.typed = fam.typed;
    f.help_raw = fam.help;
    f.unit = fam.unit;
    f.selected = sel->selects_all() || fam.entry >= 0;
    vis->OnFamily(f);
  }

  bool EndFamily() {
    if (!fam.active) return true;
    Report();
    fam.active = false;
    if (om && strict) {
      if (const char* err = om_checker.EndFamily(fam.name, fam.type, fam.unit)) {
        return Fail(line_begin, err, true);
      }
    }
    return true;
  }

  // Starts a family run. `name` must outlive the run: a view into the body, or (when
  // `transient`) a view into line scratch that is copied here.
  bool BeginFamily(std::string_view name, bool transient) {
    if (!EndFamily()) return false;
    if (transient) {
      fam_name_buf.assign(name);
      name = fam_name_buf;
    }
    fam = FamilyState{};
    fam.name = name;
    fam.active = true;
    // A name that is not transient is a view into the body, so the scan may load up to
    // the body's end.
    const char* name_end = name.data() + name.size();
    fam.bare = !name.empty() && Is(name[0], kMetricStart) &&
               SkipName<true>(name.data() + 1, name_end, transient ? name_end : body_end) == name_end;
    ++stats.families;
    return true;
  }

  // Puts `name` (a sample name) into the current family or opens an implicit one.
  bool ResolveFamily(std::string_view name, bool transient) {
    if (fam.active && StartsWith(name, fam.name)) {
      if (auto r = RoleFor(name.substr(fam.name.size()), fam.type, om)) {
        role = *r;
        return true;
      }
    }
    return ResolveNewFamily(name, transient);
  }

  // ResolveFamily when the sample does not continue the current family run.
  __attribute__((noinline)) bool ResolveNewFamily(std::string_view name, bool transient) {
    if (!om && !(declared_types.empty() && pending_types.empty()) && ResumeDeclaredFamily(name, transient)) {
      return true;
    }
    if (!BeginFamily(name, transient)) return false;
    role = SampleRole::kValue;
    return true;
  }

  // 0.0.4 families are not always contiguous (a stray line between a summary's quantiles
  // and its _count). Like Prometheus and expfmt, remember each TYPE and give a returning
  // sample its family back, instead of demoting it to untyped.
  bool ResumeDeclaredFamily(std::string_view name, bool transient) {
    std::string_view base = name;
    FlushPendingTypes();
    std::optional<MetricType> t = declared_types.Get(Selector::Hash(name));
    std::optional<SampleRole> r;
    if (t) {
      r = RoleFor("", *t, false);
    } else {
      for (std::string_view suffix :
           {std::string_view("_bucket"), std::string_view("_sum"), std::string_view("_count")}) {
        if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
          continue;
        }
        base = name.substr(0, name.size() - suffix.size());
        t = declared_types.Get(Selector::Hash(base));
        if (t) r = RoleFor(suffix, *t, false);
        break;
      }
    }
    if (!t || !r) return false;
    if (!BeginFamily(base, transient)) return false;
    fam.type = *t;
    fam.typed = true;
    role = *r;
    return true;
  }

  // ---- lexing helpers ------------------------------------------------------------------

  static void SkipBlanks(const char*& p, const char* eol) {
    while (p < eol && IsBlank(*p)) ++p;
  }

  // Scans a quoted string starting at '"'. On success `raw` excludes the quotes and p is
  // past the closing quote.
  bool ScanQuoted(const char*& p, const char* eol, std::string_view* raw, bool* escaped, const char* what) {
    const char* open = p;
    ++p;
    const char* v = p;
    bool esc = false;
    bool non_ascii = false;
    for (;;) {
      p = FindQuoteStop<false>(p, eol, body_end);
      if (p >= eol) return Fail(open, std::string("unterminated ") + what);
      const char c = *p;
      if (c == '"') break;
      if (c == '\\') {
        esc = true;
        if (p + 1 >= eol) return Fail(p, std::string("unterminated ") + what);
        if (strict && !om && p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
          return Fail(p, "invalid escape sequence");
        }
        p += 2;
        continue;
      }
      non_ascii = true;
      ++p;
    }
    *raw = std::string_view(v, static_cast<size_t>(p - v));
    ++p;
    if (non_ascii && !IsValidUtf8(*raw)) return Fail(v, std::string("invalid UTF-8 in ") + what);
    *escaped = esc;
    return true;
  }

  // Parses "{...}" at p. `name_out` (may be null) receives a quoted metric name found in the
  // braces; `name_set` says whether a name is already known.
  bool ParseLabels(const char*& p, const char* eol, std::vector<Label>& out, std::vector<uint8_t>& flags,
                   std::string_view* name_out, bool name_set, bool* name_transient, uint8_t* flags_or) {
    ++p;
    if (!om) SkipBlanks(p, eol);
    if (p < eol && *p == '}') {
      ++p;
      return true;
    }
    for (;;) {
      if (p >= eol) return Fail(p, "unexpected end of label set");
      std::string_view lname;
      uint8_t lflags = 0;
      if (*p == '"') {
        const char* q = p;
        bool esc = false;
        if (!ScanQuoted(p, eol, &lname, &esc, "quoted name")) return false;
        if (!om) SkipBlanks(p, eol);
        if (p < eol && (*p == ',' || *p == '}')) {
          // A lone quoted string is the metric name (text 1.0.0 / OpenMetrics UTF-8).
          if (name_out == nullptr) return Fail(q, "a metric name is not allowed here");
          if (name_set) return Fail(q, "metric name already set");
          if (lname.empty()) return Fail(q, "empty metric name");
          name_set = true;
          if (esc) {
            name_scratch.clear();
            AppendUnescaped(lname, &name_scratch);
            *name_out = name_scratch;
            *name_transient = true;
          } else {
            *name_out = lname;
          }
          goto separator;
        }
        if (lname.empty()) return Fail(q, "empty label name");
        if (esc) lflags |= kNameEscaped;
      } else if (Is(*p, kLabelStart)) {
        const char* s = p;
        p = SkipName<false>(p + 1, eol, body_end);
        lname = std::string_view(s, static_cast<size_t>(p - s));
      } else {
        return Fail(p, "expected label name");
      }
      // The expected byte is checked first: blanks (0.0.4 only) are rare.
      if (p >= eol || *p != '=') {
        if (!om) SkipBlanks(p, eol);
        if (p >= eol || *p != '=') return Fail(p, "expected '=' after label name");
      }
      ++p;
      if (p >= eol || *p != '"') {
        if (!om) SkipBlanks(p, eol);
        if (p >= eol || *p != '"') return Fail(p, "expected '\"' to open label value");
      }
      {
        std::string_view raw;
        bool esc = false;
        if (!ScanQuoted(p, eol, &raw, &esc, "label value")) return false;
        if (esc) lflags |= kValueEscaped;
        if (out.size() >= opt.max_labels) return Fail(p, "too many labels");
        out.push_back(Label{lname, raw});
        flags.push_back(lflags);
        *flags_or |= lflags;
      }
    separator:
      if (!om && p < eol && IsBlank(*p)) SkipBlanks(p, eol);
      if (p >= eol) return Fail(p, "unexpected end of label set");
      if (*p == ',') {
        ++p;
        if (!om) SkipBlanks(p, eol);
        if (p < eol && *p == '}') {
          if (om && strict) return Fail(p, "trailing comma in label set");
          ++p;
          return true;
        }
        continue;
      }
      if (*p == '}') {
        ++p;
        return true;
      }
      // textparse reads `{a="b" c="d"}` (no comma) in 0.0.4; expfmt and OpenMetrics do not.
      if (!om && !strict && (Is(*p, kLabelStart) || *p == '"')) continue;
      return Fail(p, "expected ',' or '}' after label");
    }
  }

  // Replaces escaped label names/values with unescaped copies in `scratch`.
  void Unescape(std::vector<Label>& ls, const std::vector<uint8_t>& fl) {
    for (size_t i = 0; i < ls.size(); ++i) {
      if (fl[i] == 0) continue;
      if (fl[i] & kNameEscaped) {
        const size_t start = scratch.size();
        AppendUnescaped(ls[i].name, &scratch);
        ls[i].name = std::string_view(scratch.data() + start, scratch.size() - start);
      }
      if (fl[i] & kValueEscaped) {
        const size_t start = scratch.size();
        AppendUnescaped(ls[i].value, &scratch);
        ls[i].value = std::string_view(scratch.data() + start, scratch.size() - start);
      }
    }
  }

  const char* FindLabelPos(std::string_view name) const {
    for (const Label& l : labels) {
      if (l.name == name) return l.value.data();
    }
    return line_begin;
  }

  // ---- lines -------------------------------------------------------------------------

  // Outcome of the fast path.
  enum class Fast : uint8_t { kDone, kFailed, kFallback };

  bool SampleLine(const char* p, const char* eol) { return GeneralSampleLine(p, eol); }

  // The usual shape of a sample line, `name{a="b",c="d"} value` plus an optional 0.0.4
  // integer timestamp, in one pass that also finds the line's end (so Run needs no memchr
  // for it): single spaces, bare names, no exemplars, no OpenMetrics timestamps, no '\r'.
  // It accepts a subset of what GeneralSampleLine accepts and reads it the same way.
  // Anything else returns kFallback before any side effect that matters (only `role` and
  // the label vectors, which the general path sets again), and Run hands the line to the
  // general path, which reads it again from its start and reports any error. On kDone and
  // kFailed, *eol_out is the line's end ('\n' or `end`) and line_end is set. The caller
  // checked that *p starts a name; `end` is the end of the body.
  Fast FastSampleLine(const char* p, const char* end, const char** eol_out) {
    const char* s = p;
    // Most samples continue the current family: compare the family name against the line
    // first (its bytes are known to be name bytes), then scan only the suffix. This is the
    // test ResolveFamily would make, done before lexing; `role` is its only side effect.
    bool resolved = false;
    bool prefix_tested = false;
    const size_t fam_len = fam.name.size();
    if (fam.active && fam.bare && static_cast<size_t>(end - p) > fam_len) {
      prefix_tested = true;
      if (SameBytes(p, fam.name.data(), fam_len)) {
        p = SkipName<true>(p + fam_len, end, end);
        const std::string_view suffix(s + fam_len, static_cast<size_t>(p - s) - fam_len);
        if (auto r = RoleFor(suffix, fam.type, om)) {
          role = *r;
          resolved = true;
        }
      } else {
        p = SkipName<true>(p + 1, end, end);
      }
    } else {
      p = SkipName<true>(p + 1, end, end);
    }
    const std::string_view name(s, static_cast<size_t>(p - s));
    labels.clear();
    label_flags.clear();
    uint8_t flags_or = 0;
    const size_t max_labels = opt.max_labels;
    size_t nlabels = 0;
    if (p < end && *p == '{') {
      ++p;
      if (p < end && *p == '}') {
        ++p;
      } else {
        for (;;) {
          if (p >= end || !Is(*p, kLabelStart)) return Fast::kFallback;
          const char* ln = p;
          p = SkipName<false>(p + 1, end, end);
          const std::string_view lname(ln, static_cast<size_t>(p - ln));
          if (end - p < 2 || p[0] != '=' || p[1] != '"') return Fast::kFallback;
          p += 2;
          const char* v = p;
          uint8_t lflags = 0;
          bool non_ascii = false;
          for (;;) {
            p = FindQuoteStop<true>(p, end, end);
            if (p >= end) return Fast::kFallback;
            const char c = *p;
            if (c == '"') break;
            if (c == '\n') return Fast::kFallback;  // unterminated on this line
            if (c == '\\') {
              if (p + 1 >= end || p[1] == '\n') return Fast::kFallback;
              if (strict && !om && p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
                return Fast::kFallback;
              }
              lflags = kValueEscaped;
              p += 2;
              continue;
            }
            non_ascii = true;
            ++p;
          }
          const std::string_view raw(v, static_cast<size_t>(p - v));
          ++p;
          if (non_ascii && !IsValidUtf8(raw)) return Fast::kFallback;
          if (nlabels >= max_labels) return Fast::kFallback;
          ++nlabels;
          labels.push_back(Label{lname, raw});
          label_flags.push_back(lflags);
          flags_or |= lflags;
          if (p >= end) return Fast::kFallback;
          if (*p == ',') {
            ++p;
            if (p < end && *p == '}') {
              if (om && strict) return Fast::kFallback;
              ++p;
              break;
            }
            continue;
          }
          if (*p != '}') return Fast::kFallback;
          ++p;
          break;
        }
      }
    }
    const std::string_view series(s, static_cast<size_t>(p - s));
    if (p >= end || *p != ' ') return Fast::kFallback;
    const char* vs = p + 1;
    double value;
    const char* q = ParseDecimalPrefix(vs, end, &value, end);
    if (q == nullptr || (q < end && *q != ' ' && *q != '\n')) {
      // NaN, +Inf, long mantissas: cut the token as the general path does.
      q = vs;
      while (q < end && !IsBlank(*q) && *q != '\n') ++q;
      if (q == vs || (q < end && *q == '\t')) return Fast::kFallback;
      const auto v = ParseFloat(std::string_view(vs, static_cast<size_t>(q - vs)));
      if (!v) return Fast::kFallback;
      value = *v;
    }
    std::optional<int64_t> ts_ms;
    if (q < end && *q == ' ') {
      if (om) return Fast::kFallback;  // OpenMetrics timestamp or exemplar
      const char* ts = q + 1;
      const char* te = ts;
      while (te < end && !IsBlank(*te) && *te != '\n') ++te;
      if (te == ts || (te < end && *te != '\n')) return Fast::kFallback;
      ts_ms = ParseInt64(std::string_view(ts, static_cast<size_t>(te - ts)));
      if (!ts_ms) return Fast::kFallback;
      q = te;
    }
    // q is at the newline or the end of the body.
    *eol_out = q;
    line_end = q;
    if (!resolved && !(prefix_tested ? ResolveNewFamily(name, false) : ResolveFamily(name, false))) {
      return Fast::kFailed;
    }
    if (flags_or != 0) {  // escapes are resolved into scratch (see GeneralSampleLine)
      scratch.clear();
      const size_t line_len = static_cast<size_t>(line_end - line_begin);
      if (scratch.capacity() < line_len) scratch.reserve(line_len);
    }
    return FinishSample(s, vs, name, series, value, ts_ms, std::nullopt, false, flags_or) ? Fast::kDone : Fast::kFailed;
  }

  bool GeneralSampleLine(const char* p, const char* eol) {
    const char* s = p;
    std::string_view name;
    bool name_known = false;
    bool name_transient = false;
    if (Is(*p, kMetricStart)) {
      p = SkipName<true>(p + 1, eol, body_end);
      name = std::string_view(s, static_cast<size_t>(p - s));
      name_known = true;
      if (!ResolveFamily(name, false)) return false;
      if (!opt.validate_unselected && !sel->selects_all()) {
        Report();
        if (fam.entry < 0 && (!sel->has_sample_entries() || sel->FindSample(name) < 0)) {
          ++stats.samples;
          fam.has_samples = true;
          return true;  // skipped without looking further
        }
      }
    } else if (*p != '{') {
      return Fail(p, "expected metric name");
    }
    labels.clear();
    label_flags.clear();
    uint8_t flags_or = 0;  // any escaped label name or value on this line
    // Unescaped text of this line never exceeds the line, so reserving that much up front
    // keeps every view into `scratch` stable while the line is processed.
    scratch.clear();
    const size_t line_len = static_cast<size_t>(line_end - line_begin);
    if (scratch.capacity() < line_len) scratch.reserve(line_len);
    const char* after_name = p;
    if (!om) SkipBlanks(p, eol);
    const bool had_blank = p > after_name;
    const bool braces = p < eol && *p == '{';
    if (braces) {
      if (!ParseLabels(p, eol, labels, label_flags, &name, name_known, &name_transient, &flags_or)) {
        return false;
      }
      if (!name_known) {
        if (name.empty()) return Fail(s, "metric name not set");
        if (!ResolveFamily(name, name_transient)) return false;
      }
    } else if (!name_known) {
      return Fail(p, "expected metric name");
    }
    // `name{labels}` as written; without braces just the name (not the blanks after it).
    const std::string_view series(s, static_cast<size_t>((braces ? p : after_name) - s));

    // Separator and value.
    if (om) {
      if (p >= eol || *p != ' ') return Fail(p, "expected ' ' and a value after the metric");
      ++p;
    } else {
      const char* before = p;
      SkipBlanks(p, eol);
      if (p == before && !had_blank && !braces) return Fail(p, "expected a value after the metric");
    }
    const char* vs = p;
    std::optional<double> value;
    {
      // Plain decimals are converted straight from the line; anything else (or a number
      // that runs into other bytes) is cut as a token and goes through ParseFloat.
      double fast;
      const char* q = ParseDecimalPrefix(vs, eol, &fast, body_end);
      if (q != nullptr && (q == eol || *q == ' ' || (!om && *q == '\t'))) {
        p = q;
        value = fast;
      } else {
        if (om) {
          while (p < eol && *p != ' ') ++p;
        } else {
          while (p < eol && !IsBlank(*p)) ++p;
        }
        if (p == vs) return Fail(vs, "expected a value after the metric");
        value = ParseFloat(std::string_view(vs, static_cast<size_t>(p - vs)));
        if (!value) return Fail(vs, "invalid sample value");
      }
    }

    // Timestamp and exemplar.
    std::optional<int64_t> ts_ms;
    std::optional<double> ts_s;
    bool has_exemplar = false;
    if (om) {
      if (p < eol) {
        ++p;  // the single space
        if (p >= eol) return Fail(p, "trailing space after value");
        if (*p != '#') {
          const char* ts = p;
          while (p < eol && *p != ' ') ++p;
          auto t = ParseFloat(std::string_view(ts, static_cast<size_t>(p - ts)));
          if (!t || !std::isfinite(*t)) return Fail(ts, "invalid timestamp");
          ts_s = *t;
          const double ms = std::trunc(*t * 1000.0);
          ts_ms = ms >= 9.2e18    ? std::numeric_limits<int64_t>::max()
                  : ms <= -9.2e18 ? std::numeric_limits<int64_t>::min()
                                  : static_cast<int64_t>(ms);
          if (p < eol) {
            ++p;
            if (p >= eol || *p != '#') return Fail(p, "expected an exemplar or the end of the line");
          }
        }
        if (p < eol) {
          if (!ParseExemplar(p, eol)) return false;
          has_exemplar = true;
        }
      }
    } else {
      SkipBlanks(p, eol);
      if (p < eol) {
        if (*p == '#') return Fail(p, "exemplars are only valid in OpenMetrics");
        const char* ts = p;
        while (p < eol && !Is(*p, kBlank)) ++p;
        auto t = ParseInt64(std::string_view(ts, static_cast<size_t>(p - ts)));
        if (!t) return Fail(ts, "invalid timestamp (want integer milliseconds)");
        ts_ms = *t;
        SkipBlanks(p, eol);
        if (p < eol) return Fail(p, "unexpected text after the timestamp");
      }
    }

    return FinishSample(s, vs, name, series, *value, ts_ms, ts_s, has_exemplar, flags_or);
  }

  // Everything after lexing, shared by the fast and the general path: label-set rules,
  // family bookkeeping, format checks, selection and the visitor call. `s` is the start of
  // the sample, `vs` of its value (error positions).
  __attribute__((always_inline)) bool FinishSample(const char* s, const char* vs, std::string_view name,
                                                   std::string_view series, double value, std::optional<int64_t> ts_ms,
                                                   std::optional<double> ts_s, bool has_exemplar, uint8_t flags_or) {
    // Label-set rules shared by both formats.
    const Label* ls = labels.data();
    const size_t nl = labels.size();
    for (size_t i = 1; i < nl; ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (ls[i].name.size() == ls[j].name.size() &&
            SameBytes(ls[i].name.data(), ls[j].name.data(), ls[i].name.size())) {
          return Fail(ls[i].name.data(), "duplicate label name");
        }
      }
    }
    const bool escapes = flags_or != 0;
    bool unescaped = false;
    ++stats.samples;
    fam.has_samples = true;
    if (!fam.reported) Report();

    if (!om) {
      // expfmt's checks: a typed histogram's `le` and a summary's `quantile` are numbers,
      // and histogram buckets and counts are not negative.
      if (strict && (fam.type == MetricType::kHistogram || fam.type == MetricType::kSummary)) {
        std::string_view key = fam.type == MetricType::kHistogram ? "le" : "quantile";
        if (escapes) {
          Unescape(labels, label_flags);
          unescaped = true;
        }
        for (const Label& l : labels) {
          if (l.name == key && !ParseFloat(l.value)) {
            return Fail(l.value.data() >= line_begin && l.value.data() < line_end ? l.value.data() : line_begin,
                        "label " + std::string(key) + " is not a number");
          }
        }
        if (fam.type == MetricType::kHistogram && value < 0 &&
            (role == SampleRole::kBucket || role == SampleRole::kCount)) {
          return Fail(vs, "negative histogram bucket or count");
        }
      }
      if (role == SampleRole::kValue &&
          (fam.type == MetricType::kHistogram || fam.type == MetricType::kGaugeHistogram)) {
        for (const Label& l : labels) {
          if (l.name == "le") role = SampleRole::kBucket;
        }
      }
    } else if (strict) {
      if (escapes) {
        Unescape(labels, label_flags);
        unescaped = true;
      }
      detail::OmSample os{fam.name, fam.type, role, labels, value, ts_s, has_exemplar};
      if (const char* err = om_checker.OnSample(os)) return Fail(s, err);
    }

    // Selection.
    int entry = -1;
    bool selected = sel->selects_all();
    if (!selected) {
      entry = fam.entry;
      if (entry < 0 && sel->has_sample_entries()) entry = sel->FindSample(name);
      selected = entry >= 0;
    }
    if (!selected) return true;
    if (escapes && !unescaped) Unescape(labels, label_flags);
    if (entry >= 0 && sel->HasMatchers(entry) && !sel->Accepts(entry, labels)) return true;

    Sample sample;
    sample.name = name;
    sample.family = fam.name;
    sample.type = fam.type;
    sample.role = role;
    sample.labels = labels;
    sample.value = value;
    sample.timestamp_ms = ts_ms;
    sample.exemplar = has_exemplar ? &exemplar : nullptr;
    sample.series = series;
    sample.line = line_no;
    ++stats.selected_samples;
    vis->OnSample(sample);
    return true;
  }

  bool ParseExemplar(const char*& p, const char* eol) {
    // At '#': "# {labels} value [timestamp]".
    if (eol - p < 3 || p[1] != ' ' || p[2] != '{') return Fail(p, "invalid exemplar: want \"# {labels} value\"");
    p += 2;
    ex_labels.clear();
    ex_flags.clear();
    bool unused = false;
    uint8_t unused_flags = 0;
    if (!ParseLabels(p, eol, ex_labels, ex_flags, nullptr, true, &unused, &unused_flags)) {
      return false;
    }
    if (p >= eol || *p != ' ') return Fail(p, "expected a value after exemplar labels");
    ++p;
    const char* vs = p;
    while (p < eol && *p != ' ') ++p;
    auto v = ParseFloat(std::string_view(vs, static_cast<size_t>(p - vs)));
    if (!v) return Fail(vs, "invalid exemplar value");
    exemplar.value = *v;
    exemplar.timestamp_seconds.reset();
    if (p < eol) {
      ++p;
      const char* ts = p;
      while (p < eol && *p != ' ') ++p;
      auto t = ParseFloat(std::string_view(ts, static_cast<size_t>(p - ts)));
      if (!t || !std::isfinite(*t)) return Fail(ts, "invalid exemplar timestamp");
      exemplar.timestamp_seconds = *t;
      if (p < eol) return Fail(p, "unexpected text after the exemplar");
    }
    for (size_t i = 1; i < ex_labels.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (ex_labels[i].name == ex_labels[j].name)
          return Fail(ex_labels[i].name.data(), "duplicate exemplar label name");
      }
    }
    Unescape(ex_labels, ex_flags);
    size_t runes = 0;
    for (const Label& l : ex_labels) runes += CountRunes(l.name) + CountRunes(l.value);
    if (runes > 128) return Fail(p, "exemplar labels exceed 128 characters");
    exemplar.labels = ex_labels;
    return true;
  }

  // Reads a metric name in a HELP/TYPE/UNIT line: bare or quoted.
  bool MetaName(const char*& p, const char* eol, const char* what, std::string_view* name, bool* transient) {
    *transient = false;
    if (p < eol && Is(*p, kMetricStart)) {
      const char* s = p;
      p = SkipName<true>(p + 1, eol, body_end);
      *name = std::string_view(s, static_cast<size_t>(p - s));
      return true;
    }
    if (p < eol && *p == '"') {
      std::string_view raw;
      bool esc = false;
      const char* q = p;
      if (!ScanQuoted(p, eol, &raw, &esc, "quoted name")) return false;
      if (raw.empty()) return Fail(q, std::string("expected metric name after ") + what);
      if (esc) {
        name_scratch.clear();
        AppendUnescaped(raw, &name_scratch);
        *name = name_scratch;
        *transient = true;
      } else {
        *name = raw;
      }
      return true;
    }
    return Fail(p, std::string("expected metric name after ") + what);
  }

  // Applies a HELP/TYPE/UNIT line to the family state. kind: 'H', 'T', 'U'.
  bool Metadata(char kind, std::string_view name, bool transient, const char* at, std::string_view text,
                std::optional<MetricType> type) {
    if (!(fam.active && fam.name.size() == name.size() && SameBytes(fam.name.data(), name.data(), name.size()))) {
      if (!BeginFamily(name, transient)) return false;
    } else if (strict) {
      if (fam.has_samples && (om || kind == 'T')) {
        return Fail(at, "metadata after samples of the family");
      }
      if ((kind == 'H' && fam.help_seen) || (kind == 'T' && fam.typed) || (kind == 'U' && fam.unit_seen)) {
        return Fail(at, "repeated metadata for the family");
      }
    }
    switch (kind) {
      case 'H':
        fam.help = text;
        // expfmt ignores a 0.0.4 HELP without text, so it does not count as the one HELP.
        fam.help_seen = om || !text.empty();
        break;
      case 'T':
        fam.type = *type;
        fam.typed = true;
        if (!om) {
          if (transient) {  // a view into scratch: hash it now, after the earlier ones
            FlushPendingTypes();
            declared_types.Put(Selector::Hash(name), *type);
          } else {
            pending_types.emplace_back(name, *type);
          }
        }
        break;
      default:
        fam.unit = text;
        fam.unit_seen = true;
        break;
    }
    return true;
  }

  // The usual metadata lines, "# HELP name text" and "# TYPE name type" with single spaces,
  // a bare name and ASCII text, in one pass that also finds the line's end (HELP lines
  // are the longest in a body). Same contract as FastSampleLine: a subset of what
  // PromComment/OmComment accept, read the same way; kFallback before any side effect.
  Fast FastMetaLine(const char* p, const char* end, const char** eol_out) {
    // "# HELP " or "# TYPE ", then a bare name.
    if (end - p < 8 || p[1] != ' ' || p[6] != ' ') return Fast::kFallback;
    char kind;
    if (std::memcmp(p + 2, "HELP", 4) == 0) {
      kind = 'H';
    } else if (std::memcmp(p + 2, "TYPE", 4) == 0) {
      kind = 'T';
    } else {
      return Fast::kFallback;
    }
    const char* at = p + 7;
    if (!Is(*at, kMetricStart)) return Fast::kFallback;
    const char* q = SkipName<true>(at + 1, end, end);
    const std::string_view name(at, static_cast<size_t>(q - at));
    if (end - q < 2 || q[0] != ' ' || IsBlank(q[1]) || q[1] == '\n') return Fast::kFallback;
    const char* text = q + 1;
    const char* nl;
    std::optional<MetricType> type;
    if (kind == 'H') {
      nl = FindNewlineOrHigh(text, end);
      if (nl < end && *nl != '\n') return Fast::kFallback;  // non-ASCII: UTF-8 check
    } else {
      nl = text;
      while (nl < end && ((*nl >= 'a' && *nl <= 'z') || *nl == '_')) ++nl;
      if (nl < end && *nl != '\n') return Fast::kFallback;
      type = TypeFromWord(std::string_view(text, static_cast<size_t>(nl - text)), om);
      if (!type) return Fast::kFallback;
    }
    if (nl[-1] == '\r') return Fast::kFallback;  // CRLF handling: the general path
    *eol_out = nl;
    line_end = nl;
    const std::string_view text_view =
        kind == 'H' ? std::string_view(text, static_cast<size_t>(nl - text)) : std::string_view();
    return Metadata(kind, name, false, at, text_view, type) ? Fast::kDone : Fast::kFailed;
  }

  bool PromComment(const char* p, const char* eol) {
    ++p;  // '#'
    SkipBlanks(p, eol);
    if (eol - p < 5 || !Is(p[4], kBlank)) return true;  // a comment
    char kind;
    if (std::memcmp(p, "HELP", 4) == 0) {
      kind = 'H';
    } else if (std::memcmp(p, "TYPE", 4) == 0) {
      kind = 'T';
    } else {
      return true;  // a comment
    }
    const char* what = kind == 'H' ? "HELP" : "TYPE";
    p += 4;
    SkipBlanks(p, eol);
    // "# HELP" or "# TYPE" with nothing after them is a comment to expfmt and harmless.
    if (p == eol) return true;
    const char* at = p;
    std::string_view name;
    bool transient = false;
    if (!MetaName(p, eol, what, &name, &transient)) return false;
    if (p < eol && !Is(*p, kBlank)) return Fail(p, std::string("invalid metric name after ") + what);
    SkipBlanks(p, eol);
    if (kind == 'H') {
      std::string_view text(p, static_cast<size_t>(eol - p));
      if (!Utf8Ok(text)) return Fail(p, "invalid UTF-8 in HELP");
      return Metadata('H', name, transient, at, text, std::nullopt);
    }
    const char* ws = p;
    while (p < eol && !Is(*p, kBlank)) ++p;
    std::string_view word(ws, static_cast<size_t>(p - ws));
    if (word.empty()) return true;  // "# TYPE name": no type given, as expfmt reads it
    auto type = TypeFromWord(word, false);
    if (!type) return Fail(ws, "invalid metric type \"" + MakeExcerpt(word, 0) + "\"");
    SkipBlanks(p, eol);
    if (p < eol) return Fail(p, "unexpected text after the metric type");
    return Metadata('T', name, transient, at, {}, type);
  }

  bool OmComment(const char* p, const char* eol, bool* eof) {
    const std::string_view line(p, static_cast<size_t>(eol - p));
    if (line == "# EOF") {
      *eof = true;
      return true;
    }
    char kind;
    const char* what;
    if (StartsWith(line, "# HELP ")) {
      kind = 'H';
      what = "HELP";
    } else if (StartsWith(line, "# TYPE ")) {
      kind = 'T';
      what = "TYPE";
    } else if (StartsWith(line, "# UNIT ")) {
      kind = 'U';
      what = "UNIT";
    } else {
      return Fail(p, "expected \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"");
    }
    p += 7;
    const char* at = p;
    std::string_view name;
    bool transient = false;
    if (!MetaName(p, eol, what, &name, &transient)) return false;
    if (p >= eol || *p != ' ') return Fail(p, std::string("expected ' ' and text after the name in ") + what);
    ++p;
    std::string_view text(p, static_cast<size_t>(eol - p));
    if (kind == 'H') {
      if (!Utf8Ok(text)) return Fail(p, "invalid UTF-8 in HELP");
      return Metadata('H', name, transient, at, text, std::nullopt);
    }
    if (kind == 'U') {
      for (const char* q = p; q < eol; ++q) {
        if (!Is(*q, kMetricChar)) return Fail(q, "invalid character in UNIT");
      }
      return Metadata('U', name, transient, at, text, std::nullopt);
    }
    auto type = TypeFromWord(text, true);
    if (!type) return Fail(p, "invalid metric type \"" + MakeExcerpt(text, 0) + "\"");
    return Metadata('T', name, transient, at, {}, type);
  }

  bool Line(const char* p, const char* eol, bool* eof) {
    if (om) {
      if (p == eol) return Fail(p, "blank lines are not allowed in OpenMetrics");
      if (*p == '#') return OmComment(p, eol, eof);
      return SampleLine(p, eol);
    }
    SkipBlanks(p, eol);
    if (p == eol) return true;
    if (*p == '#') return PromComment(p, eol);
    return SampleLine(p, eol);
  }

  Result<ParseStats> Run(std::string_view body) {
    stats = ParseStats{};
    have_error = false;
    fatal = false;
    error = ParseError{};
    fam = FamilyState{};
    line_no = 0;
    om_checker.Reset();
    declared_types.Clear();
    pending_types.clear();
    line_begin = line_end = body.data();
    body_end = body.data() + body.size();
    if (opt.max_body_bytes != 0 && body.size() > opt.max_body_bytes) {
      Fail(body.data(),
           "body of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
               std::to_string(opt.max_body_bytes),
           true);
      return InvalidArgument(error.ToString());
    }
    const char* p = body.data();
    const char* end = p + body.size();
    bool eof = false;
    const bool fast_lines = opt.validate_unselected || sel->selects_all();
    while (p < end) {
      line_begin = p;
      ++line_no;
      if ((fast_lines && Is(*p, kMetricStart)) || *p == '#') {
        const char* eol = end;
        const Fast f = *p == '#' ? FastMetaLine(p, end, &eol) : FastSampleLine(p, end, &eol);
        if (f != Fast::kFallback) {
          if (f == Fast::kFailed) {
            if (fatal || opt.error_policy == ErrorPolicy::kFailBody) {
              return InvalidArgument(error.ToString());
            }
            ++stats.skipped_lines;
          }
          p = eol < end ? eol + 1 : end;
          continue;
        }
      }
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* eol = nl != nullptr ? nl : end;
      line_end = eol;
      const char* content_end = eol;
      if (opt.allow_crlf && content_end > p && content_end[-1] == '\r') --content_end;
      if (!Line(p, content_end, &eof)) {
        if (fatal || opt.error_policy == ErrorPolicy::kFailBody) return InvalidArgument(error.ToString());
        ++stats.skipped_lines;
      }
      p = nl != nullptr ? nl + 1 : end;
      if (eof) {
        if (p < end) {
          line_begin = p;
          line_end = end;
          ++line_no;
          Fail(p, "unexpected data after # EOF", true);
          return InvalidArgument(error.ToString());
        }
        break;
      }
    }
    stats.lines = line_no;
    if (strict && !om && !body.empty() && body.back() != '\n' &&
        std::any_of(line_begin, line_end, [](char c) { return !Is(c, kBlank); })) {
      Fail(line_end, "body does not end with a newline", true);
      return InvalidArgument(error.ToString());
    }
    if (!EndFamily()) return InvalidArgument(error.ToString());
    if (om && !eof) {
      line_begin = line_end = end;
      if (!body.empty() && body.back() == '\n') ++line_no;  // the line that should say # EOF
      Fail(end, "OpenMetrics body does not end with # EOF", true);
      return InvalidArgument(error.ToString());
    }
    return stats;
  }
};

Parser::Parser(Options options) : impl_(std::make_unique<Impl>(options)) {}
Parser::~Parser() = default;

Result<ParseStats> Parser::Parse(std::string_view body, Format format, const Selector& selector,
                                 SampleVisitor& visitor) {
  impl_->format = format;
  impl_->om = format == Format::kOpenMetrics;
  impl_->strict = impl_->opt.strictness == Strictness::kSpec;
  impl_->sel = &selector;
  impl_->vis = &visitor;
  return impl_->Run(body);
}

const ParseError& Parser::error() const { return impl_->error; }

// ------------------------------------------------------------------------------------------

Format DetectFormat(std::string_view content_type, std::string_view body) {
  // Media type: up to ';', trimmed, case-insensitive.
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
      if (x != b[i]) return false;
    }
    return true;
  };
  if (iequals(media, "application/openmetrics-text")) return Format::kOpenMetrics;
  if (iequals(media, "text/plain")) return Format::kPrometheusText;
  // Fallback: an OpenMetrics body ends with "# EOF" (optionally followed by one newline) and
  // has no blank lines; 0.0.4 parsing of such a body would misname its counters.
  std::string_view tail = body;
  if (!tail.empty() && tail.back() == '\n') tail.remove_suffix(1);
  constexpr std::string_view kEof = "# EOF";
  const bool ends_eof = tail.size() >= kEof.size() && tail.substr(tail.size() - kEof.size()) == kEof &&
                        (tail.size() == kEof.size() || tail[tail.size() - kEof.size() - 1] == '\n');
  if (ends_eof && body.find("\n\n") == std::string_view::npos) return Format::kOpenMetrics;
  return Format::kPrometheusText;
}

std::string_view SeriesValue::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

namespace {

// Takes every sample: copies the wanted ones and lists each distinct name (family names from
// OnFamily, sample names as they change), so one pass answers both questions.
class SelectionCollector : public SampleVisitor {
 public:
  SelectionCollector(const std::vector<std::string>& wanted, Selection* out) : wanted_(wanted), out_(out) {}
  void OnFamily(const Family& f) override { names.emplace_back(f.name); }
  void OnSample(const Sample& s) override {
    if (s.name != last_name_) {
      last_name_.assign(s.name);
      names.push_back(last_name_);
      last_wanted_ = std::find(wanted_.begin(), wanted_.end(), s.name) != wanted_.end();
    }
    if (!last_wanted_) return;
    SeriesValue v;
    v.name = std::string(s.name);
    v.labels.reserve(s.labels.size());
    for (const exposition::Label& l : s.labels) v.labels.emplace_back(l.name, l.value);
    v.value = s.value;
    out_->series.push_back(std::move(v));
  }
  std::vector<std::string> names;

 private:
  const std::vector<std::string>& wanted_;
  Selection* out_;
  std::string last_name_;
  bool last_wanted_ = false;
};

}  // namespace

Result<Selection> ParseSelected(std::string_view body, std::string_view content_type,
                                const std::vector<std::string>& wanted) {
  const Format format = DetectFormat(content_type, body);
  Selection sel;
  SelectionCollector collector(wanted, &sel);
  Parser parser;
  auto r = parser.Parse(body, format, Selector::All(), collector);
  if (!r.ok()) return r.status();
  std::vector<std::string> names = std::move(collector.names);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  sel.families = std::move(names);
  return sel;
}

}  // namespace nimscaler::exposition
