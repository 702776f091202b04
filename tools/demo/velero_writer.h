// Writes Velero-layout backups (used by the demo and, through tests/support, the tests): the
// `<name>.tar.gz` tarball (FACTS §7: metadata/version, every item under
// resources/<groupResource>/{cluster|namespaces/<ns>}/ and again under
// resources/<groupResource>/<version>-preferredversion/...) and the `velero-backup.json` Backup
// document, from a list of Kubernetes objects.
//
// Also a raw tar.gz writer (writeTarGz) for hostile archives: arbitrary entry names, symlinks,
// hard links, directories. Built with libarchive's writer, so no binary fixtures are needed.
// Helpers throw std::runtime_error on I/O failure: callers are tests (a failure) and the demo,
// which catches it at the stage boundary and reports the stage as failed.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ocpvdr::demo {

using Json = nlohmann::json;
using TimePoint = std::chrono::system_clock::time_point;

// "persistentvolumes", "virtualmachines.kubevirt.io", ... from an object's apiVersion and kind
// (lower-case plural of the kind; "y" → "ies", "s"/"x" → "es"; ".group" unless the core group).
std::string groupResourceOf(const Json& object);

struct VeleroTarballOptions {
  std::string formatVersion = "1.1.0";
  bool plainCopies = true;      // resources/<gr>/{cluster|namespaces}/...
  bool preferredCopies = true;  // resources/<gr>/<version>-preferredversion/...
  bool preferredFirst = false;  // write the preferred copy before the plain one
  bool compact = true;          // compact JSON, as Velero writes it
};

// The tarball's bytes.
std::string veleroTarball(const std::vector<Json>& objects,
                          const VeleroTarballOptions& options = {});
void writeVeleroTarball(const std::string& path, const std::vector<Json>& objects,
                        const VeleroTarballOptions& options = {});

struct VeleroBackupSpec {
  std::string name;
  std::string phase = "Completed";
  std::optional<TimePoint> started, completed, expires;
  std::vector<std::string> includedNamespaces;
  std::string storageLocation = "default";
  int errors = 0, warnings = 0;
  std::vector<Json> objects;  // what the tarball holds
  VeleroTarballOptions tarball;
};

// The velero.io/v1 Backup document (velero-backup.json) for a spec.
Json veleroBackupJson(const VeleroBackupSpec& spec);

// Every object a backup consists of in the bucket, keyed by object key under `prefix`
// (`<prefix>/backups/<name>/velero-backup.json`, `.../<name>.tar.gz`); prefix may be empty.
std::map<std::string, std::string> veleroBackupObjects(const std::string& prefix,
                                                       const VeleroBackupSpec& spec);

// Raw entries for hostile or unusual archives.
struct TarEntry {
  enum class Type { File, Directory, Symlink, Hardlink, Fifo };
  std::string path;
  std::string data;  // File only
  Type type = Type::File;
  std::string linkTarget;  // Symlink / Hardlink
};
// gzip = false writes a plain (uncompressed) tar.
std::string tarGz(const std::vector<TarEntry>& entries, bool gzip = true);
void writeTarGz(const std::string& path, const std::vector<TarEntry>& entries, bool gzip = true);

// Small realistic objects for tests: an in-tree NFS PV bound to a PVC, a CSI NFS PV, a
// DataVolume-created PVC, a KubeVirt VM with a dataVolumeTemplate, a DataVolume.
Json samplePv(const std::string& name, const std::string& server, const std::string& path,
              const std::string& claimNs, const std::string& claimName);
Json sampleCsiPv(const std::string& name, const std::string& server, const std::string& share,
                 const std::string& subdir, const std::string& claimNs,
                 const std::string& claimName);
Json samplePvc(const std::string& ns, const std::string& name, const std::string& volumeName,
               const std::string& populatedFor = "");
Json sampleVm(const std::string& ns, const std::string& name, const std::string& dataVolume);

// How a DataVolume's PVC looks in an OADP backup, by the way CDI filled it and what
// kubevirt-velero-plugin's backup actions (dv_backup_item_action.go, pvc_backup_item_action.go)
// added:
//   LegacyImport  import without populators (CDI before 1.58, or storage.usePopulator false):
//                 the import request (storage.import.endpoint, .source, .importPodName, ...)
//                 stays on the claim next to its completion state (storage.pod.phase Succeeded,
//                 storage.condition.*); the plugin adds storage.populatedFor.
//   Populator     import through CDI's volume populator: no import request on the claim,
//                 completion copied from the PVC' (populator-base.go desiredAnnotations),
//                 spec.dataSourceRef to a VolumeImportSource; the plugin adds populatedFor.
//   Unfinished    a legacy import still running (storage.pod.phase Running): the plugin adds
//                 kvp.kubevirt.io/storage.inprogress instead of populatedFor.
// All three carry the plugin's label velero.kubevirt.io/pvc-uid and an owner reference to the DV.
enum class DvPvcState { LegacyImport, Populator, Unfinished };
void addDataVolumePvcState(Json& pvc, const std::string& dataVolume, DvPvcState state);
Json sampleDataVolumePvc(const std::string& ns, const std::string& name,
                         const std::string& volumeName, DvPvcState state);
Json sampleDataVolume(const std::string& ns, const std::string& name);

}  // namespace ocpvdr::demo
