// Helpers for configuration tests: a minimal valid document and a way to change one key of it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace ocpvdr::config::testing {

// The smallest valid configuration: the required keys only.
inline const char* kMinimalYaml = R"(sites:
  primary:
    nfs:
      server: nfs-primary.example.com
      export_roots: [{export: /exports/ocp, path: /srv/nfs/ocp}]
  dr:
    nfs:
      server: nfs-dr.example.com
      export_roots: [{export: /exports/ocp-dr, path: /srv/nfs/dr}]
replication:
  path_mappings: [{primary: /exports/ocp, dr: /exports/ocp-dr}]
)";

// Sets `dottedPath` ("replication.rsync.io_timeout", "sites.primary.nfs.export_roots[0].path")
// in `root` to `value`, creating mappings on the way.
inline void setPath(YAML::Node root, const std::string& dottedPath, const YAML::Node& value) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : dottedPath) {
    if (ch == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  parts.push_back(cur);
  YAML::Node node = root;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string key = parts[i];
    int index = -1;
    if (auto open = key.find('['); open != std::string::npos) {
      index = std::stoi(key.substr(open + 1));
      key = key.substr(0, open);
    }
    bool last = i + 1 == parts.size();
    if (index < 0) {
      if (last) {
        node[key] = value;
        return;
      }
      YAML::Node next = node[key];
      node.reset(next);
    } else {
      YAML::Node list = node[key];
      if (last) {
        list[index] = value;
        return;
      }
      YAML::Node next = list[index];
      node.reset(next);
    }
  }
}

// kMinimalYaml with one key set to `valueYaml` (parsed as YAML, so "four", "[a, b]", "{}" work).
inline std::string minimalWith(const std::string& dottedPath, const std::string& valueYaml) {
  YAML::Node root = YAML::Load(kMinimalYaml);
  setPath(root, dottedPath, YAML::Load(valueYaml));
  YAML::Emitter out;
  out << root;
  return out.c_str();
}

// The Config kMinimalYaml describes, built from the structs' own defaults.
inline Config minimalConfig() {
  Config c;
  c.primary.name = "primary";
  c.primary.nfsServer = "nfs-primary.example.com";
  c.primary.exportRoots = {{"/exports/ocp", "/srv/nfs/ocp"}};
  c.dr.name = "dr";
  c.dr.nfsServer = "nfs-dr.example.com";
  c.dr.exportRoots = {{"/exports/ocp-dr", "/srv/nfs/dr"}};
  c.replication.pathMappings = {{"/exports/ocp", "/exports/ocp-dr"}};
  c.replication.lockDir = "/var/lib/ocpv-dr/locks";
  return c;
}

inline std::string describeAll(const std::vector<Issue>& issues) {
  std::string out;
  for (const auto& i : issues) out += "  " + i.describe() + "\n";
  return out;
}

}  // namespace ocpvdr::config::testing
