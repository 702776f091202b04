// Raw HTTP/1.1 requests a well-behaved client library would not send: an endless chunked body,
// a body without Content-Length, a body whose Content-Length is a lie. The body is sent on a
// thread while the answer is read, so a server that answers before reading the whole body is
// seen doing so (and one that reads everything first is seen too: the answer comes only after
// the sender has given up).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace ocpvdr::testing {

struct RawAnswer {
  int status = 0;                        // 0: no status line arrived
  std::string head;                      // status line and headers
  std::string body;                      // as far as it arrived
  std::size_t sentBeforeAnswer = 0;      // body bytes the sender had written when the answer came
  bool senderFinished = false;           // the whole body had been sent before the answer
  std::chrono::milliseconds elapsed{0};  // from connect to the end of the answer's headers
};

struct RawRequest {
  std::string head;  // request line + headers, without the blank line
  std::string unit;  // body data, sent repeatedly until `bodyBytes` are sent
  std::size_t bodyBytes = 0;
  bool chunked = false;        // frame each unit as a chunk (and end with the last chunk)
  bool closeAfterBody = true;  // shutdown(SHUT_WR) once the body is sent (a length-less body ends)
  bool endHeaders = true;  // false: no blank line after `head`, the units continue its last line
  std::chrono::milliseconds timeout{60'000};
};

// Connects to 127.0.0.1:`port` and runs `r`.
RawAnswer rawRequest(int port, const RawRequest& r);

}  // namespace ocpvdr::testing
