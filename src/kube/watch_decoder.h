// Decoder for the Kubernetes watch stream format: newline-delimited JSON, one event per line,
//   {"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":{...}}
// The bytes arrive in arbitrary pieces (an HTTP chunk may hold half an event or several), so the
// decoder buffers until '\n'. "\r\n" line ends and blank lines are tolerated. Pure: no I/O.
//
// A line that is not JSON, lacks "type"/"object" or names an unknown type is an Invalid error:
// the caller ends the watch and re-watches from the last resourceVersion it saw.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/json_util.h"
#include "core/result.h"
#include "kube/api_status.h"

namespace ocpvdr::kube {

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };

std::string_view toString(WatchEventType t);  // "ADDED", ...

struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  Json object;
  // object.metadata.resourceVersion ("" when absent; always "" for ERROR events).
  std::string resourceVersion;
  // For ERROR events: the Status inside (nullopt when the object is not a Status).
  std::optional<ApiStatus> status;

  // An ERROR event whose Status says 410 (Expired / Gone): the watch position was compacted.
  bool expired() const;
};

// Decodes one line (without its '\n').
[[nodiscard]] Result<WatchEvent> decodeWatchLine(std::string_view line);

class WatchDecoder {
 public:
  static constexpr std::size_t kDefaultMaxLine = 16 * 1024 * 1024;
  explicit WatchDecoder(std::size_t maxLineBytes = kDefaultMaxLine);

  // Feeds bytes; calls onEvent for every complete event, in order. Stops at the first bad line
  // and returns its error (events before it were delivered). After an error the decoder must
  // not be fed again (start a new watch with a new decoder).
  [[nodiscard]] Status feed(std::string_view bytes,
                            const std::function<void(WatchEvent&)>& onEvent);
  // End of stream: a pending partial line (anything but whitespace) is an Invalid error.
  [[nodiscard]] Status finish(const std::function<void(WatchEvent&)>& onEvent);

  std::size_t eventsDecoded() const { return events_; }
  std::size_t bufferedBytes() const { return buf_.size(); }

 private:
  [[nodiscard]] Status emitLine(std::string_view line,
                                const std::function<void(WatchEvent&)>& onEvent);

  std::size_t maxLine_;
  std::string buf_;
  std::size_t scanFrom_ = 0;  // bytes of buf_ already known to hold no '\n'
  std::size_t events_ = 0;
  bool failed_ = false;
};

}  // namespace ocpvdr::kube
