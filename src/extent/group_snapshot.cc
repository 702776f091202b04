// The snapshots of a group's PV directories back to back (see group_snapshot.h).
#include "extent/group_snapshot.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <set>
#include <thread>

#include "extent/fs.h"
#include "extent/sender.h"
#include "extent/snapshot.h"

namespace ocpvdr::extent {

Result<GroupSnapshotReport> takeGroupSnapshot(const std::vector<GroupMember>& members,
                                              const std::string& id, const OnCloned& onCloned) {
  if (members.empty()) return invalidError("a group snapshot needs at least one PV");
  const std::string snapId = id.empty() ? idFromNs(nowNs()) : id;
  if (!validName(snapId)) return invalidError("invalid snapshot id \"" + snapId + "\"");
  // Everything that can be checked is checked before the first snapshot: the snapshots then
  // follow each other with nothing in between.
  std::set<std::string> seen;
  std::vector<std::pair<std::string, std::string>> plan;  // (resolved dir, area)
  for (const auto& m : members) {
    if (!validName(m.pv)) return invalidError("invalid PV name \"" + m.pv + "\"");
    if (!seen.insert(m.pv).second) return invalidError("PV " + m.pv + " named twice");
    OCPVDR_ASSIGN_OR_RETURN(std::string src, guardSource(m.root, m.dir, true));
    char buf[PATH_MAX];
    if (::realpath(m.root.c_str(), buf) == nullptr) return sysError("resolving " + m.root, errno);
    plan.emplace_back(src, snapshotArea(buf, m.pv));
  }
  GroupSnapshotReport rep;
  rep.id = snapId;
  rep.dataTimeNs = nowNs();
  std::vector<std::string> taken;
  // The disks are cloned at once, one thread each (FICLONE of one image does not wait for another).
  std::vector<Result<Snapshot>> got(members.size(), invalidError("not run"));
  rep.perPvNs.assign(members.size(), 0);
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < members.size(); ++i)
      threads.emplace_back([&, i] {
        const int64_t t0 = nowNs();
        got[i] = takeSnapshot(plan[i].first, plan[i].second, members[i].pv, snapId, false);
        rep.perPvNs[i] = nowNs() - t0;
      });
    for (auto& t : threads) t.join();
  }
  for (const auto& g : got)
    if (g.ok()) taken.push_back(g->path);
  for (size_t i = 0; i < got.size(); ++i)
    if (!got[i].ok()) {
      for (const auto& t : taken) (void)removeTree(t);
      return got[i].error().wrap("group snapshot of PV " + members[i].pv);
    }
  rep.tookNs = nowNs() - rep.dataTimeNs;
  if (onCloned) onCloned(rep);
  for (size_t i = 0; i < taken.size(); ++i) {
    Status d = fsyncPath(taken[i] + "/manifest");
    if (d.ok()) d = fsyncPath(plan[i].second);
    if (!d.ok()) {
      for (const auto& t : taken) (void)removeTree(t);
      return d.error().wrap("making the group snapshot of PV " + members[i].pv + " durable");
    }
  }
  return rep;
}

}  // namespace ocpvdr::extent
