// Error kinds, their names and the stable exit codes the CLI maps them to.
#include "core/result.h"

namespace ocpvdr {

std::string_view toString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Invalid:
      return "invalid";
    case ErrorKind::Refused:
      return "refused";
    case ErrorKind::Retryable:
      return "retryable";
    case ErrorKind::Terminal:
      return "terminal";
    case ErrorKind::Conflict:
      return "conflict";
    case ErrorKind::NotFound:
      return "not-found";
  }
  return "terminal";
}

int exitCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Invalid:
      return 2;
    case ErrorKind::Refused:
      return 3;
    case ErrorKind::Retryable:
      return 4;
    case ErrorKind::Terminal:
      return 5;
    case ErrorKind::Conflict:
      return 6;
    case ErrorKind::NotFound:
      return 7;
  }
  return 5;
}

Error Error::wrap(std::string_view context) const {
  return Error{kind, std::string(context) + ": " + message};
}

std::string Error::describe() const {
  return std::string(toString(kind)) + ": " + message;
}

}  // namespace ocpvdr
