// What kube-sim's Velero controller reads from a backup storage location: S3 objects fetched with
// plain, *unsigned* HTTP GETs, and the backup tarball's items.
//
// kube-sim must not link product code, so it does not use ocpv-dr's SigV4 S3 client. The test
// peer, s3rver, does not check signatures (FACTS §8), so unsigned ListObjectsV2 and GetObject
// requests are enough; against a real S3 endpoint these requests would be refused (403) and the
// location reported Unavailable. Path-style addressing: <s3Url>/<bucket>/<key>.
//
// Formats read: ListObjectsV2 XML (<Key>, <IsTruncated>, <NextContinuationToken>; the five
// predefined XML entities and numeric character references decoded) and the Velero tarball
// (gzip'd tar; items at resources/<groupResource>/{cluster|namespaces/<ns>}/<name>.json, a second
// copy under <version>-preferredversion/ that is used only when the plain copy is missing).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api_error.h"

namespace kubesim {

struct S3Location {
  std::string url;     // spec.config.s3Url: http(s)://host:port
  std::string bucket;  // spec.objectStorage.bucket
  std::string prefix;  // spec.objectStorage.prefix ("" or "velero"; no slashes at the ends)

  // "<prefix>/backups/" or "backups/".
  std::string backupsPrefix() const { return prefix.empty() ? "backups/" : prefix + "/backups/"; }
};

// Reads the location from a BackupStorageLocation object; 400-style error naming the field.
[[nodiscard]] ApiResult<S3Location> s3LocationOf(const Json& bsl);

// Every key under `prefix` (all pages). Errors carry the HTTP status and S3's error code.
[[nodiscard]] ApiResult<std::vector<std::string>> s3ListKeys(const S3Location& loc,
                                                             const std::string& prefix);
// One object's bytes.
[[nodiscard]] ApiResult<std::string> s3GetObject(const S3Location& loc, const std::string& key);

// Keys from one ListObjectsV2 page, with its continuation; exposed for tests.
struct S3ListPage {
  std::vector<std::string> keys;
  bool truncated = false;
  std::string nextToken;
};
[[nodiscard]] ApiResult<S3ListPage> parseS3ListPage(const std::string& xml);

struct BackupItem {
  std::string groupResource;  // "persistentvolumes", "virtualmachines.kubevirt.io"
  std::string ns;             // "" for cluster-scoped items
  std::string name;
  Json object;
};

// Every item of a tarball held in memory, one per (groupResource, ns, name). Entries whose path
// is absolute or contains "..", links and other non-regular entries, and item files that are not
// JSON objects are errors (a restore of such a backup fails).
[[nodiscard]] ApiResult<std::vector<BackupItem>> readBackupTarball(const std::string& bytes);

}  // namespace kubesim
