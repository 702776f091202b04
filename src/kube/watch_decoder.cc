// Watch stream (newline-delimited JSON) decoding.
#include "kube/watch_decoder.h"

#include <cctype>

namespace ocpvdr::kube {

std::string_view toString(WatchEventType t) {
  switch (t) {
    case WatchEventType::Added:
      return "ADDED";
    case WatchEventType::Modified:
      return "MODIFIED";
    case WatchEventType::Deleted:
      return "DELETED";
    case WatchEventType::Bookmark:
      return "BOOKMARK";
    case WatchEventType::Error:
      return "ERROR";
  }
  return "ERROR";
}

bool WatchEvent::expired() const {
  return type == WatchEventType::Error && status && status->code == 410;
}

namespace {

bool isBlank(std::string_view s) {
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string lineExcerpt(std::string_view s) {
  constexpr std::size_t kMax = 120;
  std::string out(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out;
}

}  // namespace

Result<WatchEvent> decodeWatchLine(std::string_view line) {
  auto j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return invalidError("watch stream: line is not valid JSON: \"" + lineExcerpt(line) + "\"");
  }
  if (!j.is_object()) return invalidError("watch stream: event is not a JSON object");
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) {
    return invalidError("watch stream: event has no \"type\" string");
  }
  auto o = j.find("object");
  if (o == j.end() || !o->is_object()) {
    return invalidError("watch stream: " + t->get<std::string>() +
                        " event has no \"object\" object");
  }
  const std::string type = t->get<std::string>();
  WatchEvent ev;
  if (type == "ADDED") {
    ev.type = WatchEventType::Added;
  } else if (type == "MODIFIED") {
    ev.type = WatchEventType::Modified;
  } else if (type == "DELETED") {
    ev.type = WatchEventType::Deleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEventType::Bookmark;
  } else if (type == "ERROR") {
    ev.type = WatchEventType::Error;
  } else {
    return invalidError("watch stream: unknown event type \"" + lineExcerpt(type) + "\"");
  }
  ev.object = std::move(*o);
  if (ev.type == WatchEventType::Error) {
    ev.status = parseApiStatus(ev.object);
    return ev;
  }
  if (const Json* rv = jsonAt(ev.object, "metadata.resourceVersion"); rv && rv->is_string()) {
    ev.resourceVersion = rv->get<std::string>();
  }
  if (ev.type == WatchEventType::Bookmark && ev.resourceVersion.empty()) {
    return invalidError("watch stream: BOOKMARK event without metadata.resourceVersion");
  }
  return ev;
}

WatchDecoder::WatchDecoder(std::size_t maxLineBytes) : maxLine_(maxLineBytes) {}

Status WatchDecoder::emitLine(std::string_view line,
                              const std::function<void(WatchEvent&)>& onEvent) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (isBlank(line)) return Status::success();
  auto ev = decodeWatchLine(line);
  if (!ev) {
    failed_ = true;
    return ev.error();
  }
  ++events_;
  onEvent(*ev);
  return Status::success();
}

Status WatchDecoder::feed(std::string_view bytes, const std::function<void(WatchEvent&)>& onEvent) {
  if (failed_) return invalidError("watch stream: decoder used after an error");
  buf_.append(bytes);
  std::size_t start = 0;
  std::size_t pos = buf_.find('\n', scanFrom_);
  while (pos != std::string::npos) {
    if (pos - start > maxLine_) {
      failed_ = true;
      return invalidError("watch stream: event line of " + std::to_string(pos - start) +
                          " bytes exceeds the limit of " + std::to_string(maxLine_));
    }
    Status st = emitLine(std::string_view(buf_).substr(start, pos - start), onEvent);
    if (!st.ok()) {
      buf_.clear();
      return st;
    }
    start = pos + 1;
    pos = buf_.find('\n', start);
  }
  buf_.erase(0, start);
  scanFrom_ = buf_.size();
  if (buf_.size() > maxLine_) {
    failed_ = true;
    const std::size_t n = buf_.size();
    buf_.clear();
    return invalidError("watch stream: event line exceeds the limit of " +
                        std::to_string(maxLine_) + " bytes (" + std::to_string(n) +
                        " bytes without a newline)");
  }
  return Status::success();
}

Status WatchDecoder::finish(const std::function<void(WatchEvent&)>& onEvent) {
  if (failed_) return invalidError("watch stream: decoder used after an error");
  std::string rest = std::move(buf_);
  buf_.clear();
  scanFrom_ = 0;
  if (isBlank(rest)) return Status::success();
  // A final event without its '\n' is still a whole JSON document when the server just omitted
  // the newline; a truncated one fails to parse and is reported.
  auto st = emitLine(rest, onEvent);
  if (!st.ok()) {
    return invalidError("watch stream ended inside an event (" + std::to_string(rest.size()) +
                        " bytes without a newline): " + st.error().message);
  }
  return Status::success();
}

}  // namespace ocpvdr::kube
