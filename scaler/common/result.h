#pragma once
// Errors as values at module boundaries: Status (code + message) and Result<T>.
// No exceptions cross a module boundary; service/ maps Code to grpc::StatusCode in one place.

#include <string>
#include <utility>
#include <variant>

namespace nimscaler {

/// What kind of failure a Status carries. Each maps to exactly one gRPC code.
enum class Code {
  kOk,
  kInvalidArgument,     ///< bad metadata, formula or flag: the user must change configuration
  kNotFound,            ///< unknown metric name or object
  kFailedPrecondition,  ///< pods answer but lack a configured metric
  kUnavailable,         ///< no fresh data: no ready pod answered, or collection not yet done
  kDeadlineExceeded,
  kInternal,
};

/// Name of a code, e.g. "INVALID_ARGUMENT" (for logs and debug output).
const char* CodeName(Code code);

/// A success or a failure with a human-readable message. Cheap to copy when ok.
class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

/// Either a value or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  /// The failure; an ok Status when the result holds a value. The reference lives as
  /// long as this Result.
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nimscaler
