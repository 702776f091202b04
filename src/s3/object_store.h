// ObjectStore: the seam between failover and the backup object storage (S3 and compatibles).
//
// Keys are full object keys within one bucket; the Velero storage-location prefix is the
// caller's business (backup_discovery.h). Implementations: S3ObjectStore (s3_object_store.h);
// tests substitute an in-memory store.
#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::s3 {

struct ObjectInfo {
  std::string key;
  std::int64_t size = 0;
  std::string etag;          // without quotes; may be empty
  std::string lastModified;  // as the server wrote it; may be empty
};

struct ListRequest {
  std::string prefix;     // only keys starting with this
  std::string delimiter;  // "/": keys with a further delimiter are rolled into commonPrefixes
  int maxKeys = 1000;     // page size (1..1000); list() follows every page
};

struct ListResult {
  std::vector<ObjectInfo> objects;          // each key once, in UTF-8 binary key order
  std::vector<std::string> commonPrefixes;  // each once, sorted; each ends with the delimiter
  int pages = 0;                            // requests it took
};

// Inclusive byte range; `last` absent: to the end of the object.
struct ByteRange {
  std::int64_t first = 0;
  std::optional<std::int64_t> last;
  std::string header() const {
    return "bytes=" + std::to_string(first) + "-" + (last ? std::to_string(*last) : "");
  }
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Every page of a listing. Errors keep their kind (NotFound: no such bucket; Refused: denied).
  [[nodiscard]] virtual Result<ListResult> list(const ListRequest& req,
                                                std::stop_token stop = {}) = 0;
  // NotFound when the key does not exist.
  [[nodiscard]] virtual Result<ObjectInfo> head(const std::string& key,
                                                std::stop_token stop = {}) = 0;
  // The object (or range) in memory; Invalid when it is larger than maxBytes.
  [[nodiscard]] virtual Result<std::string> get(const std::string& key, std::size_t maxBytes,
                                                std::optional<ByteRange> range = std::nullopt,
                                                std::stop_token stop = {}) = 0;
  // Streams the object (or range) to `path`: written to a temporary file in the same directory,
  // renamed into place only when complete, removed on failure.
  [[nodiscard]] virtual Result<ObjectInfo> getToFile(const std::string& key,
                                                     const std::string& path,
                                                     std::optional<ByteRange> range = std::nullopt,
                                                     std::stop_token stop = {}) = 0;
  // Uploads (tests, the demo and tools; failover itself never writes to the backup store).
  [[nodiscard]] virtual Status put(const std::string& key, std::string_view data,
                                   const std::string& contentType = "application/octet-stream",
                                   std::stop_token stop = {}) = 0;
  [[nodiscard]] virtual Status putFile(const std::string& key, const std::string& path,
                                       const std::string& contentType = "application/octet-stream",
                                       std::stop_token stop = {}) = 0;
  // "s3://bucket at https://endpoint", for messages.
  virtual std::string describe() const = 0;
};

}  // namespace ocpvdr::s3
