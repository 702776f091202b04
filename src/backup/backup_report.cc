// `backup list` / `backup show` reports (see backup_report.h).
#include "backup/backup_report.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace ocpvdr::backup {
namespace {

Json timeOrNull(const std::optional<SystemTime>& t) {
  return t ? Json(formatTime(*t)) : Json(nullptr);
}

std::string str(const Json& obj, std::string_view path) {
  const Json* v = jsonAt(obj, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

Json strOrNull(const Json& obj, std::string_view path) {
  const Json* v = jsonAt(obj, path);
  return v && v->is_string() ? *v : Json(nullptr);
}

Json pvToJson(const TarballItem& item) {
  const Json& o = item.object;
  Json source = Json::object();
  if (const Json* nfs = jsonAt(o, "spec.nfs"); nfs && nfs->is_object()) {
    source = {{"type", "nfs"}, {"server", str(*nfs, "server")}, {"path", str(*nfs, "path")}};
  } else if (const Json* csi = jsonAt(o, "spec.csi"); csi && csi->is_object()) {
    source = {{"type", "csi"},
              {"driver", str(*csi, "driver")},
              {"volumeHandle", str(*csi, "volumeHandle")},
              {"server", strOrNull(*csi, "volumeAttributes.server")},
              {"share", strOrNull(*csi, "volumeAttributes.share")},
              {"subdir", strOrNull(*csi, "volumeAttributes.subdir")}};
  } else {
    source = {{"type", "other"}};
  }
  std::string claim;
  if (!str(o, "spec.claimRef.name").empty())
    claim = str(o, "spec.claimRef.namespace") + "/" + str(o, "spec.claimRef.name");
  return {{"name", item.name},
          {"source", source},
          {"claim", claim.empty() ? Json(nullptr) : Json(claim)},
          {"reclaimPolicy", strOrNull(o, "spec.persistentVolumeReclaimPolicy")},
          {"storageClassName", strOrNull(o, "spec.storageClassName")},
          {"capacity", strOrNull(o, "spec.capacity.storage")},
          {"volumeMode", strOrNull(o, "spec.volumeMode")}};
}

Json pvcToJson(const TarballItem& item) {
  const Json& o = item.object;
  return {{"namespace", item.ns},
          {"name", item.name},
          {"volumeName", strOrNull(o, "spec.volumeName")},
          {"storageClassName", strOrNull(o, "spec.storageClassName")},
          {"populatedFor", [&]() -> Json {
             const Json* a = jsonAt(o, "metadata.annotations");
             if (a && a->is_object() && a->contains("cdi.kubevirt.io/storage.populatedFor") &&
                 (*a)["cdi.kubevirt.io/storage.populatedFor"].is_string())
               return (*a)["cdi.kubevirt.io/storage.populatedFor"];
             return nullptr;
           }()}};
}

Json vmToJson(const TarballItem& item) {
  const Json& o = item.object;
  Json strategy = strOrNull(o, "spec.runStrategy");
  if (strategy.is_null()) {
    if (const Json* running = jsonAt(o, "spec.running"); running && running->is_boolean())
      strategy = running->get<bool>() ? "Always (spec.running)" : "Halted (spec.running)";
  }
  Json volumes = Json::array();
  if (const Json* vols = jsonAt(o, "spec.template.spec.volumes"); vols && vols->is_array()) {
    for (const Json& v : *vols) {
      if (!v.is_object()) continue;
      if (!str(v, "persistentVolumeClaim.claimName").empty())
        volumes.push_back({{"pvc", str(v, "persistentVolumeClaim.claimName")}});
      else if (!str(v, "dataVolume.name").empty())
        volumes.push_back({{"dataVolume", str(v, "dataVolume.name")}});
    }
  }
  return {
      {"namespace", item.ns}, {"name", item.name}, {"runStrategy", strategy}, {"volumes", volumes}};
}

Json dvToJson(const TarballItem& item) {
  const Json& o = item.object;
  std::string source;
  if (const Json* s = jsonAt(o, "spec.source"); s && s->is_object() && !s->empty())
    source = s->begin().key();
  else if (const Json* r = jsonAt(o, "spec.sourceRef"); r && r->is_object())
    source = "sourceRef";
  Json size = strOrNull(o, "spec.storage.resources.requests.storage");
  if (size.is_null()) size = strOrNull(o, "spec.pvc.resources.requests.storage");
  return {{"namespace", item.ns},
          {"name", item.name},
          {"source", source.empty() ? Json(nullptr) : Json(source)},
          {"size", size}};
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i)
      line += i + 1 == r.size() ? r[i] : pad(r[i], widths[i] + 2);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string jstr(const Json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

// A private scratch directory for one download, removed when the report is done.
class ScratchDir {
 public:
  Result<std::string> make() {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / "ocpv-dr-backup-XXXXXX").string();
    if (!mkdtemp(tmpl.data()))
      return terminalError("cannot create a temporary directory under " + base.string());
    path_ = tmpl;
    return path_;
  }
  ~ScratchDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }

 private:
  std::string path_;
};

}  // namespace

Json backupToJson(const BackupSummary& b) {
  return {{"name", b.name},
          {"phase", b.phase.empty() ? Json(nullptr) : Json(b.phase)},
          {"started", timeOrNull(b.startTimestamp)},
          {"completed", timeOrNull(b.completionTimestamp)},
          {"expires", timeOrNull(b.expiration)},
          {"errors", b.errors},
          {"warnings", b.warnings},
          {"includedNamespaces", b.includedNamespaces},
          {"storageLocation", b.storageLocation},
          {"formatVersion", b.formatVersion},
          {"itemsBackedUp", b.itemsBackedUp ? Json(*b.itemsBackedUp) : Json(nullptr)},
          {"tarballKey", b.tarballKey},
          {"usable", b.completed()},
          {"problem", b.problem.empty() ? Json(nullptr) : Json(b.problem)}};
}

Result<Json> backupListReport(BackupDiscovery& discovery, const std::string& location,
                              std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::vector<BackupSummary> backups, discovery.list(stop));
  // The same rule latest() applies: newest completion among Completed.
  const BackupSummary* latest = nullptr;
  for (const auto& b : backups)
    if (b.completed() && b.completionTimestamp && (!latest || newerBackup(b, *latest))) latest = &b;
  Json list = Json::array();
  for (const auto& b : backups) {
    Json j = backupToJson(b);
    j["latest"] = latest == &b;
    list.push_back(std::move(j));
  }
  return Json{{"location", location},
              {"backupsPrefix", discovery.backupsPrefix()},
              {"latest", latest ? Json(latest->name) : Json(nullptr)},
              {"backups", std::move(list)}};
}

Json tarballToJson(const TarballContents& c) {
  Json pvs = Json::array(), pvcs = Json::array(), vms = Json::array(), dvs = Json::array();
  for (const auto* i : c.of(kPersistentVolumes)) pvs.push_back(pvToJson(*i));
  for (const auto* i : c.of(kPersistentVolumeClaims)) pvcs.push_back(pvcToJson(*i));
  for (const auto* i : c.of(kVirtualMachines)) vms.push_back(vmToJson(*i));
  for (const auto* i : c.of(kDataVolumes)) dvs.push_back(dvToJson(*i));
  Json inventory = Json::object();
  for (const auto& [gr, n] : c.inventory) inventory[gr] = n;
  return {{"formatVersion", c.formatVersion},
          {"inventory", inventory},
          {"totalItems", c.totalItems()},
          {"persistentVolumes", pvs},
          {"persistentVolumeClaims", pvcs},
          {"virtualMachines", vms},
          {"dataVolumes", dvs}};
}

Result<Json> backupShowReport(BackupDiscovery& discovery, const std::string& location,
                              const std::string& name, bool objects, std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(BackupSummary b, discovery.get(name, stop));
  Json out{{"location", location}, {"backup", backupToJson(b)}};
  if (!objects) return out;
  ScratchDir scratch;
  OCPVDR_ASSIGN_OR_RETURN(std::string dir, scratch.make());
  OCPVDR_ASSIGN_OR_RETURN(std::string file, discovery.downloadTarball(b, dir, stop));
  OCPVDR_ASSIGN_OR_RETURN(TarballContents contents, readVeleroTarball(file));
  out["objects"] = tarballToJson(contents);
  return out;
}

std::string renderBackupList(const Json& report) {
  std::ostringstream out;
  out << "Backups in " << jstr(report.value("location", Json())) << " ("
      << jstr(report.value("backupsPrefix", Json())) << ")\n";
  const Json& backups = report["backups"];
  if (backups.empty()) {
    out << "no backups\n";
    return out.str();
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "PHASE", "COMPLETED", "ERRORS", "WARNINGS", "NAMESPACES", ""}};
  for (const Json& b : backups) {
    std::string ns;
    for (const Json& n : b["includedNamespaces"]) ns += (ns.empty() ? "" : ",") + jstr(n);
    std::string note;
    if (b.value("latest", false)) note = "<- latest";
    if (!b["problem"].is_null()) note = "problem: " + jstr(b["problem"]);
    rows.push_back({jstr(b["name"]), jstr(b["phase"]), jstr(b["completed"]),
                    std::to_string(b.value("errors", 0)), std::to_string(b.value("warnings", 0)),
                    ns.empty() ? "*" : ns, note});
  }
  out << table(rows);
  return out.str();
}

std::string renderBackupShow(const Json& report) {
  std::ostringstream out;
  const Json& b = report["backup"];
  out << "Backup " << jstr(b["name"]) << " in " << jstr(report.value("location", Json())) << "\n";
  std::string ns;
  for (const Json& n : b["includedNamespaces"]) ns += (ns.empty() ? "" : ",") + jstr(n);
  out << table({{"  phase:", jstr(b["phase"])},
                {"  started:", jstr(b["started"])},
                {"  completed:", jstr(b["completed"])},
                {"  expires:", jstr(b["expires"])},
                {"  errors/warnings:", std::to_string(b.value("errors", 0)) + "/" +
                                           std::to_string(b.value("warnings", 0))},
                {"  namespaces:", ns.empty() ? "*" : ns},
                {"  storage location:", jstr(b["storageLocation"])},
                {"  tarball:", jstr(b["tarballKey"])}});
  if (!b["problem"].is_null()) out << "  problem: " << jstr(b["problem"]) << "\n";
  if (!report.contains("objects")) return out.str();
  const Json& o = report["objects"];
  out << "\nObjects (format " << jstr(o["formatVersion"]) << ", " << jstr(o["totalItems"])
      << " items):\n";
  std::vector<std::vector<std::string>> inv = {{"  RESOURCE", "COUNT"}};
  for (const auto& [gr, n] : o["inventory"].items()) inv.push_back({"  " + gr, jstr(n)});
  out << table(inv);
  if (!o["persistentVolumes"].empty()) {
    out << "\nPersistentVolumes:\n";
    std::vector<std::vector<std::string>> rows = {{"  NAME", "SOURCE", "CLAIM", "RECLAIM"}};
    for (const Json& pv : o["persistentVolumes"]) {
      const Json& s = pv["source"];
      std::string src = jstr(s["type"]);
      if (s["type"] == "nfs") src = "nfs " + jstr(s["server"]) + ":" + jstr(s["path"]);
      if (s["type"] == "csi")
        src = jstr(s["driver"]) + " " + jstr(s["server"]) + ":" + jstr(s["share"]) + "/" +
              jstr(s["subdir"]);
      rows.push_back({"  " + jstr(pv["name"]), src, jstr(pv["claim"]), jstr(pv["reclaimPolicy"])});
    }
    out << table(rows);
  }
  if (!o["persistentVolumeClaims"].empty()) {
    out << "\nPersistentVolumeClaims:\n";
    std::vector<std::vector<std::string>> rows = {
        {"  NAMESPACE/NAME", "VOLUME", "STORAGECLASS", "POPULATED-FOR"}};
    for (const Json& c : o["persistentVolumeClaims"])
      rows.push_back({"  " + jstr(c["namespace"]) + "/" + jstr(c["name"]), jstr(c["volumeName"]),
                      jstr(c["storageClassName"]), jstr(c["populatedFor"])});
    out << table(rows);
  }
  if (!o["virtualMachines"].empty()) {
    out << "\nVirtualMachines:\n";
    std::vector<std::vector<std::string>> rows = {{"  NAMESPACE/NAME", "RUN-STRATEGY", "VOLUMES"}};
    for (const Json& vm : o["virtualMachines"]) {
      std::string vols;
      for (const Json& v : vm["volumes"])
        for (const auto& [k, n] : v.items()) vols += (vols.empty() ? "" : ",") + k + ":" + jstr(n);
      rows.push_back({"  " + jstr(vm["namespace"]) + "/" + jstr(vm["name"]),
                      jstr(vm["runStrategy"]), vols.empty() ? "-" : vols});
    }
    out << table(rows);
  }
  if (!o["dataVolumes"].empty()) {
    out << "\nDataVolumes:\n";
    std::vector<std::vector<std::string>> rows = {{"  NAMESPACE/NAME", "SOURCE", "SIZE"}};
    for (const Json& dv : o["dataVolumes"])
      rows.push_back({"  " + jstr(dv["namespace"]) + "/" + jstr(dv["name"]), jstr(dv["source"]),
                      jstr(dv["size"])});
    out << table(rows);
  }
  return out.str();
}

}  // namespace ocpvdr::backup
