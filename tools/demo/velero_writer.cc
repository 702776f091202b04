// Velero-layout backup writer (see velero_writer.h).
#include "demo/velero_writer.h"

#include "core/json_util.h"
#include "core/text.h"
#include "core/time.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <stdexcept>

namespace ocpvdr::demo {
namespace {

struct Writer {
  archive* a = nullptr;
  std::string out;

  explicit Writer(bool gzip) {
    a = archive_write_new();
    if (gzip) archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open(a, this, nullptr, &Writer::write, nullptr) != ARCHIVE_OK)
      throw std::runtime_error(std::string("archive_write_open: ") + archive_error_string(a));
  }
  ~Writer() {
    if (a) archive_write_free(a);
  }
  static la_ssize_t write(archive*, void* self, const void* buf, size_t n) {
    static_cast<Writer*>(self)->out.append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }

  void add(const TarEntry& e) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_mtime(entry, 1'700'000'000, 0);  // 2023-11-14, in the past
    switch (e.type) {
      case TarEntry::Type::File:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0644);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
        break;
      case TarEntry::Type::Directory:
        archive_entry_set_filetype(entry, AE_IFDIR);
        archive_entry_set_perm(entry, 0755);
        break;
      case TarEntry::Type::Symlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_perm(entry, 0777);
        archive_entry_set_symlink(entry, e.linkTarget.c_str());
        break;
      case TarEntry::Type::Hardlink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0644);
        archive_entry_set_hardlink(entry, e.linkTarget.c_str());
        break;
      case TarEntry::Type::Fifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        archive_entry_set_perm(entry, 0644);
        break;
    }
    if (archive_write_header(a, entry) != ARCHIVE_OK)
      throw std::runtime_error("archive_write_header " + e.path + ": " + archive_error_string(a));
    if (e.type == TarEntry::Type::File && !e.data.empty() &&
        archive_write_data(a, e.data.data(), e.data.size()) < 0)
      throw std::runtime_error("archive_write_data " + e.path + ": " + archive_error_string(a));
    archive_entry_free(entry);
  }

  std::string finish() {
    if (archive_write_close(a) != ARCHIVE_OK)
      throw std::runtime_error(std::string("archive_write_close: ") + archive_error_string(a));
    return std::move(out);
  }
};

void writeBytes(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string lowerPlural(std::string_view kindName) {
  std::string kind = lowerAscii(kindName);
  if (kind.empty()) return kind;
  char last = kind.back();
  if (last == 'y') return kind.substr(0, kind.size() - 1) + "ies";
  if (last == 's' || last == 'x') return kind + "es";
  return kind + "s";
}

std::string versionOf(const Json& object) {
  std::string api = object.value("apiVersion", "v1");
  auto slash = api.find('/');
  return slash == std::string::npos ? api : api.substr(slash + 1);
}

}  // namespace

std::string groupResourceOf(const Json& object) {
  std::string api = object.value("apiVersion", "v1");
  std::string plural = lowerPlural(object.value("kind", ""));
  auto slash = api.find('/');
  if (slash == std::string::npos) return plural;
  return plural + "." + api.substr(0, slash);
}

std::string veleroTarball(const std::vector<Json>& objects, const VeleroTarballOptions& options) {
  Writer w(true);
  w.add({"metadata/version", options.formatVersion});
  for (const Json& o : objects) {
    const std::string gr = groupResourceOf(o);
    const std::string name = o["metadata"]["name"].get<std::string>();
    const std::string ns = o["metadata"].value("namespace", "");
    const std::string scoped =
        ns.empty() ? "cluster/" + name + ".json" : "namespaces/" + ns + "/" + name + ".json";
    const std::string body = options.compact ? o.dump() : o.dump(2);
    TarEntry plain{"resources/" + gr + "/" + scoped, body};
    TarEntry preferred{"resources/" + gr + "/" + versionOf(o) + "-preferredversion/" + scoped,
                       body};
    if (options.preferredFirst && options.preferredCopies) w.add(preferred);
    if (options.plainCopies) w.add(plain);
    if (!options.preferredFirst && options.preferredCopies) w.add(preferred);
  }
  return w.finish();
}

void writeVeleroTarball(const std::string& path, const std::vector<Json>& objects,
                        const VeleroTarballOptions& options) {
  writeBytes(path, veleroTarball(objects, options));
}

Json veleroBackupJson(const VeleroBackupSpec& spec) {
  Json status = {
      {"phase", spec.phase}, {"formatVersion", spec.tarball.formatVersion}, {"version", 1}};
  if (spec.started) status["startTimestamp"] = formatTime(*spec.started);
  if (spec.completed) status["completionTimestamp"] = formatTime(*spec.completed);
  if (spec.expires) status["expiration"] = formatTime(*spec.expires);
  if (spec.errors) status["errors"] = spec.errors;
  if (spec.warnings) status["warnings"] = spec.warnings;
  status["progress"] = {{"totalItems", spec.objects.size()},
                        {"itemsBackedUp", spec.objects.size()}};
  Json specJson = {{"storageLocation", spec.storageLocation},
                   {"ttl", "720h0m0s"},
                   {"defaultVolumesToFsBackup", false}};
  if (!spec.includedNamespaces.empty()) specJson["includedNamespaces"] = spec.includedNamespaces;
  return {{"apiVersion", "velero.io/v1"},
          {"kind", "Backup"},
          {"metadata",
           {{"name", spec.name},
            {"namespace", "openshift-adp"},
            {"labels", {{"velero.io/storage-location", spec.storageLocation}}}}},
          {"spec", specJson},
          {"status", status}};
}

std::map<std::string, std::string> veleroBackupObjects(const std::string& prefix,
                                                       const VeleroBackupSpec& spec) {
  std::string base = prefix;
  while (!base.empty() && base.back() == '/') base.pop_back();
  base = (base.empty() ? "" : base + "/") + "backups/" + spec.name + "/";
  return {{base + "velero-backup.json", veleroBackupJson(spec).dump()},
          {base + spec.name + ".tar.gz", veleroTarball(spec.objects, spec.tarball)}};
}

std::string tarGz(const std::vector<TarEntry>& entries, bool gzip) {
  Writer w(gzip);
  for (const auto& e : entries) w.add(e);
  return w.finish();
}

void writeTarGz(const std::string& path, const std::vector<TarEntry>& entries, bool gzip) {
  writeBytes(path, tarGz(entries, gzip));
}

Json samplePv(const std::string& name, const std::string& server, const std::string& path,
              const std::string& claimNs, const std::string& claimName) {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolume",
    "metadata": {
      "name": ")" + name +
                     R"(",
      "uid": "0b5e2a7c-1111-4c3e-9a55-3f0e5f0e0001",
      "resourceVersion": "48211",
      "creationTimestamp": "2026-11-20T08:00:00Z",
      "annotations": {"pv.kubernetes.io/provisioned-by": "cluster.local/nfs-subdir-external-provisioner",
                      "pv.kubernetes.io/bound-by-controller": "yes"},
      "finalizers": ["kubernetes.io/pv-protection"],
      "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]
    },
    "spec": {
      "accessModes": ["ReadWriteMany"],
      "capacity": {"storage": "30Gi"},
      "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "namespace": ")" +
                     claimNs + R"(", "name": ")" + claimName + R"(",
                   "uid": "7d3c9b1e-2222-4c3e-9a55-3f0e5f0e0002", "resourceVersion": "48190"},
      "nfs": {"server": ")" +
                     server + R"(", "path": ")" + path + R"("},
      "persistentVolumeReclaimPolicy": "Delete",
      "storageClassName": "nfs-dynamic",
      "volumeMode": "Filesystem"
    },
    "status": {"phase": "Bound"}
  })");
}

Json sampleCsiPv(const std::string& name, const std::string& server, const std::string& share,
                 const std::string& subdir, const std::string& claimNs,
                 const std::string& claimName) {
  std::string shareTrim = share;
  while (!shareTrim.empty() && shareTrim.front() == '/') shareTrim.erase(shareTrim.begin());
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolume",
    "metadata": {
      "name": ")" + name +
                     R"(",
      "uid": "0b5e2a7c-3333-4c3e-9a55-3f0e5f0e0003",
      "resourceVersion": "51000",
      "creationTimestamp": "2026-11-20T08:00:00Z",
      "annotations": {"pv.kubernetes.io/provisioned-by": "nfs.csi.k8s.io",
                      "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                      "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""},
      "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer",
                     "kubernetes.io/pv-protection"]
    },
    "spec": {
      "accessModes": ["ReadWriteMany"],
      "capacity": {"storage": "30Gi"},
      "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "namespace": ")" +
                     claimNs + R"(", "name": ")" + claimName + R"(",
                   "uid": "7d3c9b1e-4444-4c3e-9a55-3f0e5f0e0004", "resourceVersion": "50990"},
      "csi": {
        "driver": "nfs.csi.k8s.io",
        "volumeHandle": ")" +
                     server + "#" + shareTrim + "#" + subdir + R"(##",
        "volumeAttributes": {
          "csi.storage.k8s.io/pv/name": ")" +
                     name + R"(",
          "csi.storage.k8s.io/pvc/name": ")" +
                     claimName + R"(",
          "csi.storage.k8s.io/pvc/namespace": ")" +
                     claimNs + R"(",
          "server": ")" +
                     server + R"(",
          "share": ")" +
                     share + R"(",
          "subdir": ")" +
                     subdir + R"("
        }
      },
      "mountOptions": ["nfsvers=4.1"],
      "persistentVolumeReclaimPolicy": "Delete",
      "storageClassName": "nfs-csi",
      "volumeMode": "Filesystem"
    },
    "status": {"phase": "Bound"}
  })");
}

Json samplePvc(const std::string& ns, const std::string& name, const std::string& volumeName,
               const std::string& populatedFor) {
  Json pvc = Json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "metadata": {
      "name": ")" + name +
                         R"(", "namespace": ")" + ns + R"(",
      "uid": "7d3c9b1e-2222-4c3e-9a55-3f0e5f0e0002",
      "resourceVersion": "48220",
      "creationTimestamp": "2026-11-20T07:59:58Z",
      "annotations": {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.beta.kubernetes.io/storage-provisioner": "cluster.local/nfs-subdir-external-provisioner",
        "volume.kubernetes.io/storage-provisioner": "cluster.local/nfs-subdir-external-provisioner",
        "volume.kubernetes.io/selected-node": "worker-1"
      },
      "labels": {"app": "demo"},
      "finalizers": ["kubernetes.io/pvc-protection"]
    },
    "spec": {
      "accessModes": ["ReadWriteMany"],
      "resources": {"requests": {"storage": "30Gi"}},
      "storageClassName": "nfs-dynamic",
      "volumeMode": "Filesystem",
      "volumeName": ")" + volumeName +
                         R"("
    },
    "status": {"phase": "Bound", "accessModes": ["ReadWriteMany"], "capacity": {"storage": "30Gi"}}
  })");
  if (!populatedFor.empty()) {
    auto& a = pvc["metadata"]["annotations"];
    a["cdi.kubevirt.io/storage.populatedFor"] = populatedFor;
    a["cdi.kubevirt.io/storage.condition.running"] = "false";
    a["cdi.kubevirt.io/storage.condition.running.message"] = "Import Complete";
    a["cdi.kubevirt.io/storage.condition.running.reason"] = "Completed";
    a["cdi.kubevirt.io/storage.pod.phase"] = "Succeeded";
    a["cdi.kubevirt.io/storage.pod.restarts"] = "0";
    a["cdi.kubevirt.io/storage.import.importPodName"] = "importer-" + name;
    a["cdi.kubevirt.io/storage.import.endpoint"] = "docker://quay.io/containerdisks/fedora:40";
    a["cdi.kubevirt.io/storage.contentType"] = "kubevirt";
    a["cdi.kubevirt.io/storage.usePopulator"] = "true";
    pvc["metadata"]["labels"]["app.kubernetes.io/component"] = "storage";
    pvc["metadata"]["ownerReferences"] =
        Json::array({{{"apiVersion", "cdi.kubevirt.io/v1beta1"},
                      {"kind", "DataVolume"},
                      {"name", populatedFor},
                      {"uid", "5e1d0b6a-5555-4c3e-9a55-3f0e5f0e0005"},
                      {"controller", true},
                      {"blockOwnerDeletion", true}}});
    pvc["spec"]["dataSourceRef"] = {{"apiGroup", "cdi.kubevirt.io"},
                                    {"kind", "VolumeImportSource"},
                                    {"name", "volume-import-source-" + name}};
  }
  return pvc;
}

Json sampleVm(const std::string& ns, const std::string& name, const std::string& dataVolume) {
  return Json::parse(R"({
    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
    "metadata": {"name": ")" +
                     name + R"(", "namespace": ")" + ns + R"(",
                 "uid": "9a8b7c6d-6666-4c3e-9a55-3f0e5f0e0006", "generation": 3},
    "spec": {
      "runStrategy": "Always",
      "dataVolumeTemplates": [{
        "metadata": {"name": ")" +
                     dataVolume + R"("},
        "spec": {"sourceRef": {"kind": "DataSource", "name": "fedora", "namespace": "openshift-virtualization-os-images"},
                 "storage": {"resources": {"requests": {"storage": "30Gi"}}, "storageClassName": "nfs-dynamic"}}
      }],
      "template": {"spec": {
        "domain": {"devices": {"disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}]},
                   "memory": {"guest": "2Gi"}},
        "volumes": [{"name": "rootdisk", "dataVolume": {"name": ")" +
                     dataVolume + R"("}}]
      }}
    },
    "status": {"printableStatus": "Running", "ready": true}
  })");
}

void addDataVolumePvcState(Json& pvc, const std::string& dataVolume, DvPvcState state) {
  Json& a = pvc["metadata"]["annotations"];
  Json& l = pvc["metadata"]["labels"];
  const std::string name = pvc["metadata"].value("name", "");
  const std::string uid = pvc["metadata"].value("uid", "7d3c9b1e-2222-4c3e-9a55-3f0e5f0e0002");
  // Set by CDI on every claim it creates for a DataVolume.
  a["cdi.kubevirt.io/storage.contentType"] = "kubevirt";
  a["cdi.kubevirt.io/storage.preallocation.requested"] = "false";
  a["cdi.kubevirt.io/createdForDataVolume"] = "5e1d0b6a-5555-4c3e-9a55-3f0e5f0e0005";
  a["cdi.kubevirt.io/storage.condition.bound"] = "true";
  a["cdi.kubevirt.io/storage.condition.bound.message"] = "";
  a["cdi.kubevirt.io/storage.condition.bound.reason"] = "";
  l["app.kubernetes.io/component"] = "storage";
  l["app.kubernetes.io/managed-by"] = "cdi-controller";
  if (state == DvPvcState::Populator) {
    a["cdi.kubevirt.io/storage.usePopulator"] = "true";
    a["cdi.kubevirt.io/storage.populator.kind"] = "VolumeImportSource";
    a["cdi.kubevirt.io/storage.populator.progress"] = "100.0%";
    a["cdi.kubevirt.io/storage.pod.phase"] = "Succeeded";
    a["cdi.kubevirt.io/storage.pod.ready"] = "false";
    a["cdi.kubevirt.io/storage.pod.restarts"] = "0";
    a["cdi.kubevirt.io/storage.condition.running"] = "false";
    a["cdi.kubevirt.io/storage.condition.running.message"] = "Import Complete";
    a["cdi.kubevirt.io/storage.condition.running.reason"] = "Completed";
    pvc["spec"]["dataSourceRef"] = {{"apiGroup", "cdi.kubevirt.io"},
                                    {"kind", "VolumeImportSource"},
                                    {"name", "volume-import-source-" + uid}};
  } else {
    const bool done = state == DvPvcState::LegacyImport;
    a["cdi.kubevirt.io/storage.usePopulator"] = "false";
    a["cdi.kubevirt.io/storage.import.endpoint"] = "docker://quay.io/containerdisks/fedora:40";
    a["cdi.kubevirt.io/storage.import.source"] = "registry";
    a["cdi.kubevirt.io/storage.import.registryImportMethod"] = "node";
    a["cdi.kubevirt.io/storage.import.importPodName"] = "importer-" + name;
    a["cdi.kubevirt.io/storage.import.requiresScratch"] = "false";
    a["cdi.kubevirt.io/storage.pod.phase"] = done ? "Succeeded" : "Running";
    a["cdi.kubevirt.io/storage.pod.ready"] = done ? "false" : "true";
    a["cdi.kubevirt.io/storage.pod.restarts"] = "0";
    a["cdi.kubevirt.io/storage.condition.running"] = done ? "false" : "true";
    a["cdi.kubevirt.io/storage.condition.running.message"] = done ? "Import Complete" : "";
    a["cdi.kubevirt.io/storage.condition.running.reason"] = done ? "Completed" : "Pod is running";
  }
  // kubevirt-velero-plugin at backup.
  if (state == DvPvcState::Unfinished)
    a["kvp.kubevirt.io/storage.inprogress"] = dataVolume;
  else
    a["cdi.kubevirt.io/storage.populatedFor"] = dataVolume;
  l["velero.kubevirt.io/pvc-uid"] = uid;
  pvc["metadata"]["ownerReferences"] =
      Json::array({{{"apiVersion", "cdi.kubevirt.io/v1beta1"},
                    {"kind", "DataVolume"},
                    {"name", dataVolume},
                    {"uid", "5e1d0b6a-5555-4c3e-9a55-3f0e5f0e0005"},
                    {"controller", true},
                    {"blockOwnerDeletion", true}}});
}

Json sampleDataVolumePvc(const std::string& ns, const std::string& name,
                         const std::string& volumeName, DvPvcState state) {
  Json pvc = samplePvc(ns, name, volumeName);
  addDataVolumePvcState(pvc, name, state);
  return pvc;
}

Json sampleDataVolume(const std::string& ns, const std::string& name) {
  return Json::parse(R"({
    "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
    "metadata": {"name": ")" +
                     name + R"(", "namespace": ")" + ns + R"(",
                 "uid": "5e1d0b6a-5555-4c3e-9a55-3f0e5f0e0005"},
    "spec": {"sourceRef": {"kind": "DataSource", "name": "fedora"},
             "storage": {"resources": {"requests": {"storage": "30Gi"}}}},
    "status": {"phase": "Succeeded", "progress": "100.0%"}
  })");
}

}  // namespace ocpvdr::demo
