// Name validation, per-kind defaults and required-field checks modelled on kube-apiserver v1.32
// and KubeVirt's virtualmachine-validator webhook.
#include "admission.h"

#include <regex>

#include "object.h"

namespace kubesim {

namespace {

const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

const Json* at(const Json& o, std::initializer_list<const char*> path) {
  const Json* cur = &o;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end() || it->is_null()) return nullptr;
    cur = &*it;
  }
  return cur;
}

bool nonEmpty(const Json* v) {
  return v && ((v->is_array() || v->is_object() || v->is_string()) ? !v->empty() : true);
}

// A resource quantity as a number of units ("1Gi" -> 1073741824); nullopt when unparsable. Only
// for comparing two sizes (kube-sim's own reading of resource.Quantity, not the product's).
std::optional<long double> quantityValue(const Json* q) {
  if (!q || !q->is_string()) return std::nullopt;
  const std::string t = q->get<std::string>();
  std::size_t used = 0;
  long double v = 0;
  try {
    v = std::stold(t, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string suffix = t.substr(used);
  static const std::pair<const char*, long double> kSuffixes[] = {{"", 1.0L},
                                                                  {"Ki", 1024.0L},
                                                                  {"Mi", 1048576.0L},
                                                                  {"Gi", 1073741824.0L},
                                                                  {"Ti", 1099511627776.0L},
                                                                  {"Pi", 1125899906842624.0L},
                                                                  {"k", 1e3L},
                                                                  {"M", 1e6L},
                                                                  {"G", 1e9L},
                                                                  {"T", 1e12L},
                                                                  {"P", 1e15L},
                                                                  {"m", 1e-3L}};
  for (const auto& [s, f] : kSuffixes) {
    if (suffix == s) return v * f;
  }
  return std::nullopt;
}

// The volume source fields of a PersistentVolumeSpec (PersistentVolumeSource is embedded inline).
const char* const kPvSources[] = {"nfs",
                                  "csi",
                                  "hostPath",
                                  "local",
                                  "iscsi",
                                  "fc",
                                  "rbd",
                                  "cephfs",
                                  "cinder",
                                  "flexVolume",
                                  "glusterfs",
                                  "awsElasticBlockStore",
                                  "gcePersistentDisk",
                                  "azureDisk",
                                  "azureFile",
                                  "vsphereVolume",
                                  "portworxVolume",
                                  "scaleIO",
                                  "storageos",
                                  "quobyte",
                                  "photonPersistentDisk",
                                  "flocker"};

Json pvSource(const Json& pv) {
  Json out = Json::object();
  const Json* spec = at(pv, {"spec"});
  if (!spec || !spec->is_object()) return out;
  for (const char* s : kPvSources) {
    if (auto it = spec->find(s); it != spec->end() && !it->is_null()) out[s] = *it;
  }
  return out;
}

// A short "- old\n+ new" rendering standing in for the cmp.Diff the server appends.
std::string diffText(const Json& before, const Json& after) {
  return "\n  - " + safeDump(before) + "\n  + " + safeDump(after);
}

// ValidateImmutableField(spec.volumeMode): the server defaults a missing volumeMode to
// Filesystem on every write, so absent and "Filesystem" are the same value here.
void checkVolumeModeUnchanged(const Json& object, const Json& old, Json& causes) {
  auto mode = [](const Json& o) {
    const Json* m = at(o, {"spec", "volumeMode"});
    return m ? *m : Json("Filesystem");
  };
  const Json before = mode(old), after = mode(object);
  if (before != after) {
    causes.push_back(cause("FieldValueInvalid", "volumeMode",
                           "Invalid value: " + safeDump(after) + ": field is immutable"));
  }
}

// Update rules of pkg/apis/core/validation/validation.go (v1.32): ValidatePersistentVolumeUpdate
// and ValidatePersistentVolumeClaimUpdate, reached through the update strategies of
// pkg/registry/core/persistentvolume{,claim}/strategy.go (ValidateUpdate).
void checkImmutableOnUpdate(const ResourceType& type, const Json& object, const Json& old,
                            Json& causes) {
  if (type.kind == "PersistentVolume") {
    Json newSource = pvSource(object);
    const Json oldSource = pvSource(old);
    // A CSI controllerExpandSecretRef may be added once (it was not there before).
    if (oldSource.contains("csi") && newSource.contains("csi") && newSource["csi"].is_object() &&
        oldSource["csi"].is_object() && !oldSource["csi"].contains("controllerExpandSecretRef")) {
      newSource["csi"].erase("controllerExpandSecretRef");
    }
    if (newSource != oldSource) {
      causes.push_back(cause("FieldValueForbidden", "spec.persistentvolumesource",
                             "Forbidden: spec.persistentvolumesource is immutable after creation" +
                                 diffText(oldSource, pvSource(object))));
    }
    checkVolumeModeUnchanged(object, old, causes);
    return;
  }
  if (type.kind != "PersistentVolumeClaim") return;
  Json newSpec = object.value("spec", Json::object());
  Json oldSpec = old.value("spec", Json::object());
  if (!newSpec.is_object() || !oldSpec.is_object()) return;
  // The binder sets volumeName once.
  if (oldSpec.value("volumeName", "").empty()) {
    if (newSpec.contains("volumeName")) {
      oldSpec["volumeName"] = newSpec["volumeName"];
    } else {
      oldSpec.erase("volumeName");
    }
  }
  const bool bound = object.contains("status") && object["status"].is_object() &&
                     object["status"].value("phase", "") == "Bound";
  // Bound claims may change resources.requests.storage (expansion) and, with the
  // VolumeAttributesClass feature, volumeAttributesClassName.
  if (bound) {
    const Json* oldStorage = at(old, {"spec", "resources", "requests", "storage"});
    if (newSpec.contains("resources") && newSpec["resources"].is_object() &&
        newSpec["resources"].contains("requests") && newSpec["resources"]["requests"].is_object()) {
      if (oldStorage) {
        newSpec["resources"]["requests"]["storage"] = *oldStorage;
      } else {
        newSpec["resources"]["requests"].erase("storage");
      }
    }
    if (oldSpec.contains("volumeAttributesClassName")) {
      newSpec["volumeAttributesClassName"] = oldSpec["volumeAttributesClassName"];
    } else {
      newSpec.erase("volumeAttributesClassName");
    }
  }
  // volumeMode is checked on its own below (as upstream does, with its own message).
  Json newCmp = newSpec, oldCmp = oldSpec;
  newCmp.erase("volumeMode");
  oldCmp.erase("volumeMode");
  if (newCmp != oldCmp) {
    causes.push_back(cause("FieldValueForbidden", "spec",
                           "Forbidden: spec is immutable after creation except resources.requests "
                           "and volumeAttributesClassName for bound claims" +
                               diffText(oldCmp, newCmp)));
  }
  // RecoverVolumeExpansionFailure (on by default since v1.32): shrinking is allowed only down to
  // more than status.capacity.
  auto newSize = quantityValue(at(object, {"spec", "resources", "requests", "storage"}));
  auto oldSize = quantityValue(at(old, {"spec", "resources", "requests", "storage"}));
  if (newSize && oldSize && *newSize < *oldSize) {
    auto statusSize = quantityValue(at(old, {"status", "capacity", "storage"}));
    if (*newSize <= statusSize.value_or(0)) {
      causes.push_back(cause("FieldValueForbidden", "spec.resources.requests.storage",
                             "Forbidden: field can not be less than status.capacity"));
    }
  }
  checkVolumeModeUnchanged(object, old, causes);
}

}  // namespace

std::optional<std::string> checkDns1123Subdomain(const std::string& name) {
  static const std::regex re(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)");
  if (name.size() > 253) {
    return "Invalid value: \"" + name + "\": must be no more than 253 characters";
  }
  if (!std::regex_match(name, re)) return "Invalid value: \"" + name + "\": " + kSubdomainMsg;
  return std::nullopt;
}

std::optional<std::string> checkDns1123Label(const std::string& name) {
  static const std::regex re(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?)");
  if (name.size() > 63) {
    return "Invalid value: \"" + name + "\": must be no more than 63 characters";
  }
  if (!std::regex_match(name, re)) return "Invalid value: \"" + name + "\": " + kLabelMsg;
  return std::nullopt;
}

std::optional<ApiError> validateObject(const ResourceType& type, const Json& object,
                                       const Json* old) {
  const std::string name = object["metadata"].value("name", "");
  Json causes = Json::array();
  std::optional<std::string> nameErr;
  if (type.group == "rbac.authorization.k8s.io") {
    // pkg/apis/rbac/validation/validation.go ValidateRBACName: any path segment name
    // ("system:discovery" is valid).
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('%') != std::string::npos) {
      nameErr = "Invalid value: \"" + name + "\": may not contain '/' or '%'";
    }
  } else {
    nameErr = type.kind == "Namespace" ? checkDns1123Label(name) : checkDns1123Subdomain(name);
  }
  if (nameErr) causes.push_back(cause("FieldValueInvalid", "metadata.name", *nameErr));
  for (const char* section : {"spec", "status"}) {
    // Typed decoding (or a CRD's structural schema) refuses these before anything else runs.
    if (const Json* v = at(object, {section}); v && !v->is_object()) {
      return invalid(
          type, name,
          Json::array({cause("FieldValueTypeInvalid", section,
                             "Invalid value: " + safeDump(*v) + ": must be an object")}));
    }
  }
  if (const Json* labels = at(object, {"metadata", "labels"}); labels && !labels->is_object()) {
    causes.push_back(cause("FieldValueInvalid", "metadata.labels", "Invalid value: must be a map"));
  } else if (labels) {
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (!it->is_string()) {
        causes.push_back(cause("FieldValueInvalid", "metadata.labels." + it.key(),
                               "Invalid value: label values must be strings"));
      }
    }
  }
  if (const Json* fin = at(object, {"metadata", "finalizers"}); fin && !fin->is_array()) {
    causes.push_back(
        cause("FieldValueInvalid", "metadata.finalizers", "Invalid value: must be a list"));
  }
  if (old && at(*old, {"metadata", "deletionTimestamp"})) {
    // The server refuses new finalizers on an object that is being deleted.
    const Json* before = at(*old, {"metadata", "finalizers"});
    const Json* after = at(object, {"metadata", "finalizers"});
    if (after && after->is_array()) {
      for (const auto& f : *after) {
        bool had = false;
        if (before && before->is_array()) {
          for (const auto& b : *before) had = had || b == f;
        }
        if (!had) {
          causes.push_back(cause("FieldValueForbidden", "metadata.finalizers",
                                 "Forbidden: no new finalizers can be added if the object is being "
                                 "deleted, found new finalizers []string{" +
                                     safeDump(f) + "}"));
          break;
        }
      }
    }
  }

  if (old) checkImmutableOnUpdate(type, object, *old, causes);
  if (type.kind == "PersistentVolume") {
    if (!nonEmpty(at(object, {"spec", "accessModes"}))) {
      causes.push_back(cause("FieldValueRequired", "spec.accessModes", "Required value"));
    }
    const Json* cap = at(object, {"spec", "capacity"});
    if (!nonEmpty(cap)) {
      causes.push_back(cause("FieldValueRequired", "spec.capacity", "Required value"));
    }
    if (!cap || !cap->is_object() || !cap->contains("storage")) {
      causes.push_back(cause("FieldValueNotSupported", "spec.capacity",
                             "Unsupported value: core.ResourceList(nil): supported values: "
                             "\"storage\""));
    }

    int sources = 0;
    for (const char* s : kPvSources) sources += at(object, {"spec", s}) ? 1 : 0;
    if (sources == 0) {
      causes.push_back(
          cause("FieldValueRequired", "spec", "Required value: must specify a volume type"));
    } else if (sources > 1) {
      causes.push_back(cause("FieldValueForbidden", "spec",
                             "Forbidden: may not specify more than 1 volume type"));
    }
  } else if (type.kind == "PersistentVolumeClaim") {
    if (!nonEmpty(at(object, {"spec", "accessModes"}))) {
      causes.push_back(cause("FieldValueRequired", "spec.accessModes",
                             "Required value: at least 1 access mode is required"));
    }
    if (!at(object, {"spec", "resources", "requests", "storage"})) {
      causes.push_back(cause("FieldValueRequired", "spec.resources[storage]", "Required value"));
    }
  }
  if (!causes.empty()) return invalid(type, name, causes);

  if (type.kind == "VirtualMachine") {
    // KubeVirt's validating webhook: exactly one of spec.running / spec.runStrategy.
    const Json* running = at(object, {"spec", "running"});
    const Json* strategy = at(object, {"spec", "runStrategy"});
    std::string field, why;
    if (running && strategy) {
      field = "spec.running";
      why =
          "Running and RunStrategy are mutually exclusive. Note that Running is deprecated, "
          "please use RunStrategy instead";
    } else if (!running && !strategy) {
      field = "spec.runStrategy";
      why = "one of spec.running or spec.runStrategy must be specified";
    } else if (strategy) {
      static const char* kStrategies[] = {"Always",         "Halted", "Manual",
                                          "RerunOnFailure", "Once",   "WaitAsReceiver"};
      bool ok = false;
      for (const char* s : kStrategies) ok = ok || (strategy->is_string() && *strategy == s);
      if (!ok) {
        field = "spec.runStrategy";
        why = "Invalid RunStrategy (" + safeDump(*strategy) + ")";
      }
    }
    if (!field.empty()) {
      ApiError e = invalid(type, name, Json::array({cause("FieldValueInvalid", field, why)}));
      e.message =
          "admission webhook \"virtualmachine-validator.kubevirt.io\" denied the request: " +
          field + ": " + why;
      return e;
    }
  }
  return std::nullopt;
}

void applyCreateDefaults(const ResourceType& type, Json& object, const std::string& now) {
  if (type.kind == "Namespace") {
    object["spec"]["finalizers"] = Json::array({"kubernetes"});
    object["status"] = {{"phase", "Active"}};
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = object["metadata"]["name"];
  } else if (type.kind == "PersistentVolume") {
    Json& spec = object["spec"];
    if (!spec.contains("persistentVolumeReclaimPolicy")) {
      spec["persistentVolumeReclaimPolicy"] = "Retain";
    }
    if (!spec.contains("volumeMode")) spec["volumeMode"] = "Filesystem";
    object["status"] = {{"phase", "Pending"}, {"lastPhaseTransitionTime", now}};
  } else if (type.kind == "PersistentVolumeClaim") {
    Json& spec = object["spec"];
    if (!spec.contains("volumeMode")) spec["volumeMode"] = "Filesystem";
    object["status"] = {{"phase", "Pending"}};
  }
}

}  // namespace kubesim
