// Primary→DR path mapping (see path_map.h for the four paths).
#include "replication/path_map.h"

#include "core/paths.h"

#include <algorithm>
#include <vector>

namespace ocpvdr::replication {
namespace {

// Longest prefix match of `path` against `prefixes` (component-wise). Returns the index or -1.
template <class T, class F>
int longestPrefix(const std::vector<T>& items, std::string_view path, F prefixOf) {
  int best = -1;
  std::size_t bestLen = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& p = prefixOf(items[i]);
    if (isUnder(path, p) && (best < 0 || p.size() > bestLen)) {
      best = static_cast<int>(i);
      bestLen = p.size();
    }
  }
  return best;
}

std::string rebase(std::string_view path, std::string_view from, std::string_view to) {
  std::string rest(path.substr(from == "/" ? 0 : from.size()));
  if (rest.empty()) return std::string(to);
  if (to == "/") return rest;
  return std::string(to) + rest;
}

}  // namespace

// The lexical helpers live in core/paths.h so config validation applies the same rules.
Result<std::string> normaliseAbsolute(std::string_view path, std::string_view what) {
  return paths::normaliseAbsolute(path, what);
}

bool isUnder(std::string_view path, std::string_view root) {
  return paths::isUnder(path, root);
}

Result<VolumePaths> mapExportPath(const config::Config& cfg, std::string_view exportPath) {
  OCPVDR_ASSIGN_OR_RETURN(std::string exp, normaliseAbsolute(exportPath, "NFS export path"));
  VolumePaths v;
  v.primaryServer = cfg.primary.nfsServer;
  v.primaryExportPath = exp;
  v.drServer = cfg.dr.nfsServer;

  int pr =
      longestPrefix(cfg.primary.exportRoots, exp,
                    [](const config::ExportRoot& r) -> const std::string& { return r.exportPath; });
  if (pr < 0)
    return refusedError("NFS path \"" + exp +
                        "\" is under no export root of the primary site "
                        "(sites.primary.nfs.export_roots)");
  const auto& proot = cfg.primary.exportRoots[pr];
  v.primaryHostPath = rebase(exp, proot.exportPath, proot.hostPath);
  v.primaryRoot = proot.hostPath;

  int m =
      longestPrefix(cfg.replication.pathMappings, exp,
                    [](const config::PathMapping& p) -> const std::string& { return p.primary; });
  if (m < 0)
    return refusedError("NFS path \"" + exp +
                        "\" matches no replication.path_mappings entry: add a mapping for its "
                        "primary export prefix");
  const auto& map = cfg.replication.pathMappings[m];
  v.drExportPath = rebase(exp, map.primary, map.dr);

  int dr =
      longestPrefix(cfg.dr.exportRoots, v.drExportPath,
                    [](const config::ExportRoot& r) -> const std::string& { return r.exportPath; });
  if (dr < 0)
    return refusedError("DR export path \"" + v.drExportPath +
                        "\" is under no export root of the DR site (sites.dr.nfs.export_roots)");
  const auto& droot = cfg.dr.exportRoots[dr];
  v.drHostPath = rebase(v.drExportPath, droot.exportPath, droot.hostPath);
  v.drRoot = droot.hostPath;

  // A volume must be strictly inside its roots: syncing onto the root itself would let one PV's
  // --delete wipe every other PV's data.
  if (v.primaryHostPath == v.primaryRoot || v.drHostPath == v.drRoot)
    return refusedError("NFS path \"" + exp +
                        "\" is an export root itself, not a volume directory under it");
  return v;
}

Result<VolumePaths> mapVolume(const config::Config& cfg, std::string_view server,
                              std::string_view exportPath) {
  const auto& aliases = cfg.primary.nfsAliases;
  bool known = server == cfg.primary.nfsServer ||
               std::find(aliases.begin(), aliases.end(), server) != aliases.end();
  if (!known)
    return refusedError("NFS server \"" + std::string(server) +
                        "\" is not the primary NFS server (sites.primary.nfs.server: \"" +
                        cfg.primary.nfsServer + "\") or one of sites.primary.nfs.aliases");
  OCPVDR_ASSIGN_OR_RETURN(VolumePaths v, mapExportPath(cfg, exportPath));
  v.primaryServer = std::string(server);
  return v;
}

}  // namespace ocpvdr::replication
