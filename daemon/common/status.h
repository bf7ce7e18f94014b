// Errors as values: a Status says what failed and why, in words a person can
// act on; Result<T> carries either a value or that Status.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sfc {

// The subset of gRPC status codes the daemon produces; the API layer maps
// them one to one.
enum class Code {
  kOk = 0,
  kInvalidArgument,     // the request or file is wrong: fix the input
  kNotFound,            // names something that does not exist
  kAlreadyExists,       // conflicts with something that exists
  kFailedPrecondition,  // valid, but the system is not in a state to do it
  kUnavailable,         // transient: try again
  kInternal,            // a kernel or library call failed unexpectedly
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context: "loading chain web: " + message.
  Status Wrap(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// A failed syscall or libbpf call: `what` says what was being done; `err` is
// a positive errno (libbpf returns negative ones; pass either).
inline Status ErrnoStatus(const std::string& what, int err) {
  if (err < 0) err = -err;
  return Internal(what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")");
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(implicit)

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sfc

// Early-return helpers for the common "call, propagate failure" shape.
#define SFC_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::sfc::Status sfc_status_ = (expr);        \
    if (!sfc_status_.ok()) return sfc_status_; \
  } while (0)

#define SFC_CONCAT_INNER(a, b) a##b
#define SFC_CONCAT(a, b) SFC_CONCAT_INNER(a, b)
#define SFC_ASSIGN_OR_RETURN(lhs, expr) \
  SFC_ASSIGN_OR_RETURN_IMPL(SFC_CONCAT(sfc_result_, __LINE__), lhs, expr)
#define SFC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
