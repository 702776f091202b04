// Reflector: list + watch + re-list with a diff against the known set.
#include "kube/reflector.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/backoff.h"
#include "core/log.h"

namespace ocpvdr::kube {
namespace {

std::string metadataField(const Json& obj, const char* key) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto v = m->find(key);
  return v != m->end() && v->is_string() ? v->get<std::string>() : std::string{};
}

}  // namespace

Reflector::Reflector(KubeClient& client, Clock& clock, ResourceType type, ReflectorOptions opts,
                     ReflectorHandler handler)
    : client_(client),
      clock_(clock),
      type_(std::move(type)),
      opts_(std::move(opts)),
      handler_(std::move(handler)),
      name_(opts_.name.empty() ? type_.groupResource() : opts_.name),
      rng_(opts_.seed != 0 ? opts_.seed : std::random_device{}()),
      failures_(0) {
  if (opts_.watchTimeoutMax < opts_.watchTimeoutMin) {
    std::swap(opts_.watchTimeoutMin, opts_.watchTimeoutMax);
  }
}

void Reflector::seed(const std::map<std::string, std::string>& keyToResourceVersion) {
  std::map<std::string, SeedEntry> entries;
  for (const auto& [k, rv] : keyToResourceVersion) entries[k] = SeedEntry{rv, ""};
  seed(entries);
}

void Reflector::seed(const std::map<std::string, SeedEntry>& entries) {
  std::lock_guard lock(mu_);
  for (const auto& [k, e] : entries) known_[k] = Known{e.uid, e.resourceVersion, nullptr};
}

std::string Reflector::lastResourceVersion() const {
  std::lock_guard lock(mu_);
  return lastRv_;
}

std::optional<Error> Reflector::lastFailure() const {
  std::lock_guard lock(mu_);
  return lastFailure_;
}

ReflectorCounters Reflector::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::map<std::string, std::string> Reflector::knownVersions() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : known_) out.emplace(k, v.resourceVersion);
  return out;
}

std::size_t Reflector::knownCount() const {
  std::lock_guard lock(mu_);
  return known_.size();
}

Json Reflector::minimalObject(const std::string& key, const Known& k) const {
  Json obj = {{"kind", type_.kind}, {"apiVersion", type_.apiVersion()}};
  auto slash = key.find('/');
  if (slash != std::string::npos) {
    obj["metadata"]["namespace"] = key.substr(0, slash);
    obj["metadata"]["name"] = key.substr(slash + 1);
  } else {
    obj["metadata"]["name"] = key;
  }
  obj["metadata"]["resourceVersion"] = k.resourceVersion;
  if (!k.uid.empty()) obj["metadata"]["uid"] = k.uid;
  return obj;
}

void Reflector::deliver(WatchEventType type, const Json& obj, bool fromRelist) {
  if (handler_) handler_(type, obj, fromRelist);
}

std::int64_t Reflector::nextWatchTimeout() {
  std::uniform_int_distribution<std::int64_t> d(opts_.watchTimeoutMin.count(),
                                                opts_.watchTimeoutMax.count());
  return std::max<std::int64_t>(1, d(rng_));
}

bool Reflector::backoff(std::stop_token stop) {
  // Up to a quarter longer than the doubling base, never shorter.
  const auto wait =
      Backoff{opts_.backoffInitial, opts_.backoffMax, 0, 0.25}.delay(++failures_, rng_);
  log::debug("kube: reflector backing off", {{"reflector", name_}, {"waitMs", wait.count()}});
  return clock_.sleepFor(wait, stop);
}

void Reflector::resetBackoff() {
  failures_ = 0;
}

Status Reflector::relist(std::stop_token stop) {
  ListOptions lo;
  lo.labelSelector = opts_.labelSelector;
  lo.fieldSelector = opts_.fieldSelector;
  lo.limit = opts_.pageSize;
  auto listed = client_.listAll(type_, opts_.ns, lo, stop);
  if (!listed) return listed.error();

  std::vector<std::pair<WatchEventType, Json>> out;
  {
    std::lock_guard lock(mu_);
    std::map<std::string, Known> next;
    for (auto& item : listed->items) {
      const std::string name = metadataField(item, "name");
      const std::string rv = metadataField(item, "resourceVersion");
      if (name.empty() || rv.empty()) {
        ++counters_.skipped;
        log::warn("kube: list item without metadata.name or resourceVersion ignored",
                  {{"reflector", name_}, {"name", name}});
        continue;
      }
      const std::string key = objectKey(metadataField(item, "namespace"), name);
      const std::string uid = metadataField(item, "uid");
      auto it = known_.find(key);
      if (it == known_.end()) {
        out.emplace_back(WatchEventType::Added, item);
      } else if (!it->second.uid.empty() && !uid.empty() && it->second.uid != uid) {
        // Same name, new incarnation: the old object was deleted while we were not watching.
        out.emplace_back(WatchEventType::Deleted, it->second.object.is_null()
                                                      ? minimalObject(key, it->second)
                                                      : it->second.object);
        out.emplace_back(WatchEventType::Added, item);
      } else if (it->second.resourceVersion != rv) {
        out.emplace_back(WatchEventType::Modified, item);
      }
      next[key] = Known{uid, rv, opts_.keepObjects ? std::move(item) : Json()};
    }
    for (auto& [key, k] : known_) {
      if (next.count(key) != 0) continue;
      out.emplace_back(WatchEventType::Deleted,
                       k.object.is_null() ? minimalObject(key, k) : std::move(k.object));
    }
    known_ = std::move(next);
    lastRv_ = listed->resourceVersion;
    if (counters_.lists > 0) ++counters_.relists;
    ++counters_.lists;
    counters_.events += out.size();
  }
  log::info("kube: reflector listed", {{"reflector", name_},
                                       {"items", listed->items.size()},
                                       {"changes", out.size()},
                                       {"resourceVersion", listed->resourceVersion},
                                       {"pages", listed->pages}});
  for (auto& [t, obj] : out) deliver(t, obj, true);
  synced_ = true;
  return Status::success();
}

void Reflector::handleWatchEvent(WatchEvent& ev) {
  if (ev.type == WatchEventType::Bookmark) {
    std::lock_guard lock(mu_);
    lastRv_ = ev.resourceVersion;
    return;
  }
  const std::string name = metadataField(ev.object, "name");
  if (name.empty() || ev.resourceVersion.empty()) {
    std::lock_guard lock(mu_);
    ++counters_.skipped;
    log::warn("kube: watch event without metadata.name or resourceVersion ignored",
              {{"reflector", name_}, {"type", std::string(toString(ev.type))}, {"name", name}});
    return;
  }
  const std::string key = objectKey(metadataField(ev.object, "namespace"), name);
  const std::string uid = metadataField(ev.object, "uid");
  std::vector<std::pair<WatchEventType, Json>> out;
  {
    std::lock_guard lock(mu_);
    lastRv_ = ev.resourceVersion;
    auto it = known_.find(key);
    if (ev.type == WatchEventType::Deleted) {
      if (it != known_.end()) known_.erase(it);
      out.emplace_back(WatchEventType::Deleted, std::move(ev.object));
    } else if (it == known_.end()) {
      known_[key] = Known{uid, ev.resourceVersion, opts_.keepObjects ? ev.object : Json()};
      out.emplace_back(WatchEventType::Added, std::move(ev.object));
    } else if (it->second.resourceVersion == ev.resourceVersion) {
      return;  // already known at this version (a replay); nothing changed
    } else {
      if (!it->second.uid.empty() && !uid.empty() && it->second.uid != uid) {
        out.emplace_back(WatchEventType::Deleted, it->second.object.is_null()
                                                      ? minimalObject(key, it->second)
                                                      : std::move(it->second.object));
        out.emplace_back(WatchEventType::Added, ev.object);
      } else if (opts_.keepObjects) {
        out.emplace_back(WatchEventType::Modified, ev.object);
      } else {
        out.emplace_back(WatchEventType::Modified, std::move(ev.object));
      }
      it->second =
          Known{uid, ev.resourceVersion, opts_.keepObjects ? std::move(ev.object) : Json()};
    }
    counters_.events += out.size();
  }
  for (auto& [t, obj] : out) deliver(t, obj, false);
}

void Reflector::run(std::stop_token stop) {
  bool needList = true;
  while (!stop.stop_requested()) {
    if (needList) {
      Status st = relist(stop);
      if (stop.stop_requested()) return;
      if (!st.ok()) {
        {
          std::lock_guard lock(mu_);
          ++counters_.errors;
          lastFailure_ = st.error();
        }
        log::warn("kube: reflector list failed",
                  {{"reflector", name_}, {"error", st.error().message}});
        if (!backoff(stop)) return;
        continue;
      }
      needList = false;
      {
        std::lock_guard lock(mu_);
        lastFailure_.reset();
      }
    }
    WatchOptions wo;
    wo.resourceVersion = lastResourceVersion();
    wo.allowWatchBookmarks = true;
    wo.timeoutSeconds = nextWatchTimeout();
    wo.labelSelector = opts_.labelSelector;
    wo.fieldSelector = opts_.fieldSelector;
    {
      std::lock_guard lock(mu_);
      ++counters_.watches;
    }
    const SteadyTime started = clock_.monotonic();
    std::size_t delivered = 0;
    auto r = client_.watch(
        type_, opts_.ns, wo,
        [&](WatchEvent& ev) {
          ++delivered;
          handleWatchEvent(ev);
        },
        stop);
    if (stop.stop_requested() || (r && r->how == WatchEnd::How::Stopped)) return;
    {
      std::lock_guard lock(mu_);
      ++counters_.watchRestarts;
    }
    if (!r) {
      {
        std::lock_guard lock(mu_);
        ++counters_.errors;
        lastFailure_ = r.error();
      }
      log::warn("kube: reflector watch failed; re-watching after a backoff",
                {{"reflector", name_}, {"error", r.error().message}, {"events", delivered}});
      if (delivered > 0) resetBackoff();
      if (!backoff(stop)) return;
      continue;
    }
    {
      std::lock_guard lock(mu_);
      lastFailure_.reset();
    }
    if (r->how == WatchEnd::How::Expired) {
      {
        std::lock_guard lock(mu_);
        ++counters_.expired;
      }
      log::info(
          "kube: reflector watch expired (410); re-listing",
          {{"reflector", name_}, {"resourceVersion", wo.resourceVersion}, {"message", r->message}});
      needList = true;
      continue;
    }
    // Clean end (timeoutSeconds or a server restart): re-watch from where we are.
    if (delivered == 0 && clock_.monotonic() - started < opts_.minHealthyWatch) {
      if (!backoff(stop)) return;
    } else {
      resetBackoff();
    }
  }
}

void publishReflectorMetrics(MetricsRegistry& metrics, const Reflector& reflector,
                             const std::string& resource) {
  const ReflectorCounters c = reflector.counters();
  const Labels labels{{"resource", resource}};
  const std::pair<const char*, std::uint64_t> counters[] = {
      {"lists", c.lists},     {"relists", c.relists},
      {"watches", c.watches}, {"watch_restarts", c.watchRestarts},
      {"expired", c.expired}, {"errors", c.errors},
      {"events", c.events},   {"skipped", c.skipped},
  };
  for (const auto& [name, value] : counters) {
    const std::string metric = std::string("ocpvdr_kube_reflector_") + name + "_total";
    metrics.describe(metric, "counter", std::string("Kubernetes reflector ") + name);
    metrics.set(metric, static_cast<double>(value), labels);
  }
  metrics.describe("ocpvdr_kube_reflector_synced", "gauge",
                   "1 once the reflector's first list has been delivered");
  metrics.set("ocpvdr_kube_reflector_synced", reflector.hasSynced() ? 1 : 0, labels);
  metrics.describe("ocpvdr_kube_reflector_objects", "gauge", "Objects in the reflector's view");
  metrics.set("ocpvdr_kube_reflector_objects", static_cast<double>(reflector.knownCount()), labels);
}

}  // namespace ocpvdr::kube
