// Result<T>: the error-carrying return type used across Verbatim.
//
// Data-plane and library code never throws; a fallible function returns Result<T>, which
// holds either a value or an Error with a canonical code and a human-readable message.
// Callers must look at it (Outcome's result is [[nodiscard]]). Exceptions are allowed only
// at the edges (CLI parsing, config loading) and never cross a component boundary.
// Threads and ownership: values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <boost/outcome/result.hpp>
#include <boost/outcome/try.hpp>

namespace verbatim {

// A small canonical set, modelled on absl::StatusCode.
enum class ErrorCode {
  kInvalidArgument,     // the input is malformed or a value is out of range
  kNotFound,            // a named object does not exist
  kAlreadyExists,       // creating an object whose identity is taken
  kFailedPrecondition,  // the operation is not allowed in the current state
  kConflict,            // a concurrent writer changed the state first; retry
  kUnauthenticated,     // no or bad credentials
  kIo,                  // the file system or database failed
  kResourceExhausted,   // a bounded resource is used up (ports, sessions, disk): try later
  kInternal,            // a bug: an invariant did not hold
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // Protocol errors (SIP parsing and negotiation): the status a peer is answered with (0: the
  // message is dropped, as for a malformed response) and the 1-based line of the message it
  // is about (0: not tied to a line).
  int status = 0;
  uint32_t line = 0;
  // "line N: message (status)", the parts that are set.
  std::string describe() const;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

template <typename T>
using Result = boost::outcome_v2::result<T, Error, boost::outcome_v2::policy::terminate>;

using Status = Result<void>;

inline Status ok_status() { return boost::outcome_v2::success(); }

}  // namespace verbatim

#define VB_TRY BOOST_OUTCOME_TRY
