// Test doubles for the failover seams: an HttpClient that records requests and answers from a
// script, and an in-memory ObjectStore that records every call (to prove what was read and that
// nothing was written). Header-only; later failover tests may include it.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/http.h"
#include "s3/object_store.h"

namespace ocpvdr::s3::testing {

// Answers requests in order from `script` (the last entry repeats), or through `handler`.
class ScriptedHttpClient final : public HttpClient {
 public:
  using Handler = std::function<Result<HttpResponse>(const HttpRequest&)>;

  void pushError(Error e) { script_.emplace_back(std::move(e)); }
  void push(int status, std::string body = "", HttpHeaders headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    script_.emplace_back(std::move(r));
  }
  Handler handler;

  Result<HttpResponse> send(const HttpRequest& req, std::stop_token) override {
    std::lock_guard lock(mu_);
    requests.push_back(req);
    Result<HttpResponse> r = handler ? handler(req)
                             : script_.empty()
                                 ? Result<HttpResponse>(terminalError("no scripted response"))
                                 : script_.front();
    if (!handler && script_.size() > 1) script_.pop_front();
    if (!r.ok()) return r;
    HttpResponse resp = r.value();
    // Behave like the real client: streaming callbacks get the body, which is then not kept.
    if (req.onHeaders) req.onHeaders(resp.status, resp.headers);
    if (req.onBody) {
      std::string body = std::move(resp.body);
      resp.body.clear();
      // Deliver in small chunks so that chunk boundaries are exercised.
      for (std::size_t i = 0; i < body.size(); i += 7) {
        if (!req.onBody(std::string_view(body).substr(i, 7))) {
          resp.cancelled = true;
          break;
        }
      }
    }
    return resp;
  }

  std::vector<HttpRequest> requests;

 private:
  std::mutex mu_;
  std::deque<Result<HttpResponse>> script_;
};

inline std::optional<std::string> requestHeader(const HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() != name.size()) continue;
    bool eq = true;
    for (std::size_t i = 0; i < k.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(k[i])) ==
           std::tolower(static_cast<unsigned char>(name[i]));
    if (eq) return v;
  }
  return std::nullopt;
}

// In-memory object store with a call log ("list <prefix>", "get <key>", "head <key>",
// "getToFile <key>", "put <key>").
class MemoryObjectStore final : public s3::ObjectStore {
 public:
  std::map<std::string, std::string> objects;
  std::vector<std::string> calls;
  // Errors to return for a key (get/head/getToFile) instead of its content.
  std::map<std::string, Error> failures;

  Result<ListResult> list(const ListRequest& req, std::stop_token) override {
    calls.push_back("list " + req.prefix);
    ListResult out;
    out.pages = 1;
    std::string lastPrefix;
    for (const auto& [key, data] : objects) {
      if (key.compare(0, req.prefix.size(), req.prefix) != 0) continue;
      if (!req.delimiter.empty()) {
        auto d = key.find(req.delimiter, req.prefix.size());
        if (d != std::string::npos) {
          std::string cp = key.substr(0, d + req.delimiter.size());
          if (cp != lastPrefix) out.commonPrefixes.push_back(cp);
          lastPrefix = cp;
          continue;
        }
      }
      out.objects.push_back(ObjectInfo{key, static_cast<std::int64_t>(data.size()), "", ""});
    }
    return out;
  }
  Result<ObjectInfo> head(const std::string& key, std::stop_token) override {
    calls.push_back("head " + key);
    if (auto f = failures.find(key); f != failures.end()) return f->second;
    auto it = objects.find(key);
    if (it == objects.end()) return notFoundError("no such key " + key);
    return ObjectInfo{key, static_cast<std::int64_t>(it->second.size()), "", ""};
  }
  Result<std::string> get(const std::string& key, std::size_t maxBytes,
                          std::optional<ByteRange> range, std::stop_token) override {
    calls.push_back("get " + key);
    if (auto f = failures.find(key); f != failures.end()) return f->second;
    auto it = objects.find(key);
    if (it == objects.end()) return notFoundError("no such key " + key);
    std::string data = it->second;
    if (range) {
      auto first = static_cast<std::size_t>(range->first);
      auto last = range->last ? static_cast<std::size_t>(*range->last) : data.size() - 1;
      data = data.substr(first, last - first + 1);
    }
    if (data.size() > maxBytes) return invalidError("object larger than limit");
    return data;
  }
  Result<ObjectInfo> getToFile(const std::string& key, const std::string& path,
                               std::optional<ByteRange>, std::stop_token) override {
    calls.push_back("getToFile " + key);
    if (auto f = failures.find(key); f != failures.end()) return f->second;
    auto it = objects.find(key);
    if (it == objects.end()) return notFoundError("no such key " + key);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return terminalError("cannot write " + path);
    std::fwrite(it->second.data(), 1, it->second.size(), f);
    std::fclose(f);
    return ObjectInfo{key, static_cast<std::int64_t>(it->second.size()), "", ""};
  }
  Status put(const std::string& key, std::string_view data, const std::string&,
             std::stop_token) override {
    calls.push_back("put " + key);
    objects[key] = std::string(data);
    return Status::success();
  }
  Status putFile(const std::string& key, const std::string&, const std::string&,
                 std::stop_token) override {
    calls.push_back("putFile " + key);
    return terminalError("putFile not supported by MemoryObjectStore");
  }
  std::string describe() const override { return "memory://test"; }
};

}  // namespace ocpvdr::s3::testing
