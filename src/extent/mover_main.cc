// ocpv-dr-mover: the extent mover's two ends in one static binary.
//
//   ocpv-dr-mover send --root R --pv NAME --dir D [--base ID] [--allow-empty] [--id ID]
//                      [--min-free-percent N] [--max-base-bytes N]
//       primary side (the limits of replication.snapshot_area, extent/sender.h), started over ssh
//       by DR like rsync's remote side: snapshot + stream on stdout; one report line on stderr
//       ("OCPVDR-MOVER sent key=value ...") or a guard line
//       ("OCPVDR-GUARD <verdict> <path>", exit 97) or "OCPVDR-MOVER error <kind>: <message>".
//   ocpv-dr-mover send ... --snapshot ID
//       the same for a snapshot taken before by `snapshot` (no new snapshot).
//   ocpv-dr-mover snapshot [--id ID] --pv NAME --root R --dir D [--pv NAME --root R --dir D ...]
//       primary side: the reflink snapshots of a VM's (or group's) PV directories back to back
//       under one id (extent/group_snapshot.h); "OCPVDR-MOVER snapshot id=... data_time_ns=...
//       took_ns=... pvs=N" on stdout as soon as they are cloned, then "OCPVDR-MOVER
//       snapshot-durable id=..." once fsynced (exit 0 only then).
//   ocpv-dr-mover apply --points DIR
//       DR side: a stream on stdin becomes a recovery point; report line on stdout.
//   ocpv-dr-mover probe --root R
//       "OCPVDR-MOVER probe reflink=yes" or "... reflink=no <why>" on stdout (exit 0), or an
//       error when the probe could not run: can the extent mover work on R's file system?
//   ocpv-dr-mover checksum --root R --pv NAME --snapshot ID | --tree DIR
//       per-file SHA-256 of a snapshot's tree on the primary (or of any tree), one line per
//       file or link on stdout (extent/checksum.h); `ocpv-dr points verify` compares them with
//       the same sums of the DR point. NotFound (7) when the snapshot is not there (any more).
//   ocpv-dr-mover watch --root R [--root R2 ...] [--settle MS] [--cap MS] [--heartbeat MS]
//                       [--backend auto|fanotify|inotify]
//       primary side, long-lived: "PV dir X under root R changed at T" records on stdout
//       (extent/watch.h), until the reader is gone.
//   ocpv-dr-mover manifest --root R [--pv NAME[=DIR] ...] [--stdin]
//       one digest line per PV directory of the export root, in ONE session (extent/manifest.h);
//       --stdin reads more NAME[=DIR] lines from stdin (thousands of PVs exceed a command line);
//       no PV given: every directory directly under R.
//   ocpv-dr-mover version
//       "ocpv-dr-mover <version> stream <n> manifest <digest format>", compared by DR before it
//       trusts the remote side.
// Exit codes: 0 ok, the error kind's code otherwise (core/result.h), 97 a path guard refused.
// No shared-library dependency (linked -static), so it runs on a stock RHEL NFS server.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "extent/applier.h"
#include "extent/checksum.h"
#include "extent/fs.h"
#include "extent/group_snapshot.h"
#include "extent/manifest.h"
#include "extent/sender.h"
#include "extent/snapshot.h"
#include "extent/stream.h"
#include "extent/watch.h"

#ifndef OCPVDR_VERSION
#define OCPVDR_VERSION "0"
#endif

using namespace ocpvdr;
using namespace ocpvdr::extent;

namespace {

constexpr int kGuardExit = 97;

int usage() {
  std::fprintf(
      stderr,
      "usage: ocpv-dr-mover send --root R --pv NAME --dir D [--base ID] [--allow-empty]\n"
      "                          [--min-free-percent N] [--max-base-bytes N] [--snapshot ID]\n"
      "       ocpv-dr-mover snapshot [--id ID] --pv NAME --root R --dir D [--pv ...]\n"
      "       ocpv-dr-mover apply --points DIR\n"
      "       ocpv-dr-mover probe --root R\n"
      "       ocpv-dr-mover checksum --root R --pv NAME --snapshot ID | --tree DIR\n"
      "       ocpv-dr-mover watch --root R [--root R2 ...] [--settle MS] [--cap MS]\n"
      "                           [--heartbeat MS] [--backend auto|fanotify|inotify]\n"
      "       ocpv-dr-mover manifest --root R [--pv NAME[=DIR] ...] [--stdin]\n"
      "       ocpv-dr-mover version\n");
  return 2;
}

int fail(const Error& e) {
  std::fprintf(stderr, "OCPVDR-MOVER error %s\n", e.describe().c_str());
  return exitCodeFor(e.kind);
}

// --key value pairs and --flags; false on an unknown or malformed argument.
bool parseArgs(int argc, char** argv, const std::map<std::string, bool>& known,
               std::map<std::string, std::string>* out) {
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto it = known.find(a);
    if (it == known.end()) {
      std::fprintf(stderr, "ocpv-dr-mover: unknown argument %s\n", a.c_str());
      return false;
    }
    if (it->second) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ocpv-dr-mover: %s needs a value\n", a.c_str());
        return false;
      }
      (*out)[a] = argv[++i];
    } else {
      (*out)[a] = "1";
    }
  }
  return true;
}

int cmdSend(int argc, char** argv) {
  std::map<std::string, std::string> a;
  if (!parseArgs(argc, argv,
                 {{"--root", true},
                  {"--pv", true},
                  {"--dir", true},
                  {"--base", true},
                  {"--id", true},
                  {"--allow-empty", false},
                  {"--snapshot", true},
                  {"--min-free-percent", true},
                  {"--max-base-bytes", true}},
                 &a))
    return usage();
  if (!a.count("--root") || !a.count("--pv") || !a.count("--dir")) return usage();
  if (::isatty(STDOUT_FILENO)) {
    std::fprintf(stderr, "ocpv-dr-mover: refusing to write a binary stream to a terminal\n");
    return 2;
  }
  const uint64_t read0 = storageReadBytes();
  SendOptions o{a["--root"], a["--pv"], a["--dir"],
                a["--base"], a["--id"], a.count("--allow-empty") > 0};
  o.snapshot = a["--snapshot"];
  try {
    if (a.count("--min-free-percent")) o.minFreePercent = std::stoi(a["--min-free-percent"]);
    if (a.count("--max-base-bytes")) o.maxBaseBytes = std::stoull(a["--max-base-bytes"]);
  } catch (const std::exception&) {
    return usage();
  }
  auto r = send(o, STDOUT_FILENO);
  if (!r.ok()) {
    // Guard verdicts keep the rsync guard's line format (replication/guards.h).
    const std::string& m = r.error().message;
    for (const char* v : {"root-missing ", "missing ", "escape ", "notdir ", "empty "}) {
      if (m.rfind(v, 0) == 0 &&
          (r.error().kind == ErrorKind::Refused || r.error().kind == ErrorKind::NotFound)) {
        std::fprintf(stderr, "OCPVDR-GUARD %s\n", m.c_str());
        return kGuardExit;
      }
    }
    return fail(r.error());
  }
  std::fprintf(
      stderr,
      "OCPVDR-MOVER sent id=%s base=%s data_time_ns=%lld entries=%llu files=%llu "
      "data_bytes=%llu allocated_bytes=%llu stream_bytes=%llu skipped=%llu read_bytes=%llu "
      "full_resend_reason=%s free_percent=%d base_only_bytes=%lld source_digest=%s\n",
      r->snapshotId.c_str(), r->baseId.c_str(), static_cast<long long>(r->dataTimeNs),
      static_cast<unsigned long long>(r->entries), static_cast<unsigned long long>(r->files),
      static_cast<unsigned long long>(r->dataBytes),
      static_cast<unsigned long long>(r->allocatedBytes),
      static_cast<unsigned long long>(r->streamBytes), static_cast<unsigned long long>(r->skipped),
      static_cast<unsigned long long>(storageReadBytes() - read0),
      r->fullResendReason.empty() ? "-" : r->fullResendReason.c_str(), r->freePercent,
      static_cast<long long>(r->baseOnlyBytes),
      r->sourceDigest.empty() ? "-" : r->sourceDigest.c_str());
  return 0;
}

// Repeated --pv NAME --root R --dir D triples (each --pv starts a member), optional --id.
int cmdSnapshot(int argc, char** argv) {
  std::vector<GroupMember> members;
  std::string id;
  for (int i = 2; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[i + 1];
    if (k == "--id") {
      id = v;
    } else if (k == "--pv") {
      members.push_back({v, "", ""});
    } else if ((k == "--root" || k == "--dir") && !members.empty()) {
      (k == "--root" ? members.back().root : members.back().dir) = v;
    } else {
      return usage();
    }
  }
  for (const auto& m : members)
    if (m.root.empty() || m.dir.empty()) return usage();
  // The report line as soon as the clones exist (DR thaws on it), "durable" once fsynced.
  auto r = takeGroupSnapshot(members, id, [&](const GroupSnapshotReport& c) {
    std::printf("OCPVDR-MOVER snapshot id=%s data_time_ns=%lld took_ns=%lld pvs=%zu\n",
                c.id.c_str(), static_cast<long long>(c.dataTimeNs),
                static_cast<long long>(c.tookNs), members.size());
    std::fflush(stdout);
  });
  if (!r.ok()) return fail(r.error());
  std::printf("OCPVDR-MOVER snapshot-durable id=%s\n", r->id.c_str());
  return 0;
}

int cmdApply(int argc, char** argv) {
  std::map<std::string, std::string> a;
  if (!parseArgs(argc, argv, {{"--points", true}}, &a) || !a.count("--points")) return usage();
  ApplyOptions o;
  o.pointsDir = a["--points"];
  auto r = apply(o, STDIN_FILENO);
  if (!r.ok()) return fail(r.error());
  std::printf(
      "OCPVDR-MOVER applied point=%s base=%s pv=%s data_time_ns=%lld entries=%llu "
      "data_bytes=%llu holes=%llu removed=%llu stream_bytes=%llu\n",
      r->pointId.c_str(), r->baseId.c_str(), r->pv.c_str(), static_cast<long long>(r->dataTimeNs),
      static_cast<unsigned long long>(r->entries), static_cast<unsigned long long>(r->dataBytes),
      static_cast<unsigned long long>(r->holes), static_cast<unsigned long long>(r->removed),
      static_cast<unsigned long long>(r->streamBytes));
  return 0;
}

int cmdProbe(int argc, char** argv) {
  std::map<std::string, std::string> a;
  if (!parseArgs(argc, argv, {{"--root", true}}, &a) || !a.count("--root")) return usage();
  Status s = probeReflink(a["--root"]);
  if (s.ok()) {
    std::printf("OCPVDR-MOVER probe reflink=yes\n");
    return 0;
  }
  if (s.error().kind != ErrorKind::Refused) return fail(s.error());
  std::printf("OCPVDR-MOVER probe reflink=no %s\n", s.error().message.c_str());
  return 0;
}

int cmdChecksum(int argc, char** argv) {
  std::map<std::string, std::string> a;
  if (!parseArgs(argc, argv,
                 {{"--root", true}, {"--pv", true}, {"--snapshot", true}, {"--tree", true}}, &a))
    return usage();
  std::string tree;
  if (a.count("--tree")) {
    if (a.count("--root") || a.count("--pv") || a.count("--snapshot")) return usage();
    tree = a["--tree"];
  } else {
    if (!a.count("--root") || !a.count("--pv") || !a.count("--snapshot")) return usage();
    if (!validName(a["--pv"]) || !validName(a["--snapshot"]))
      return fail(invalidError("invalid PV name or snapshot id"));
    tree = snapshotArea(a["--root"], a["--pv"]) + "/" + a["--snapshot"] + "/tree";
    struct stat st {};
    if (::stat((snapshotArea(a["--root"], a["--pv"]) + "/" + a["--snapshot"] + "/manifest").c_str(),
               &st) != 0)
      return fail(notFoundError("snapshot " + a["--snapshot"] + " of PV " + a["--pv"] +
                                " is not at the primary"));
  }
  auto sums = checksumTree(tree);
  if (!sums.ok()) return fail(sums.error());
  for (const auto& s : *sums) std::printf("%s\n", formatSum(s).c_str());
  return std::fflush(stdout) == 0 ? 0 : fail(terminalError("writing stdout"));
}

int cmdWatch(int argc, char** argv) {
  WatchOptions o;
  auto millis = [](const char* v, std::chrono::milliseconds* out) {
    char* end = nullptr;
    long long n = std::strtoll(v, &end, 10);
    if (end == v || *end != '\0' || n < 0) return false;
    *out = std::chrono::milliseconds(n);
    return true;
  };
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    bool ok = true;
    if (k == "--root")
      o.roots.emplace_back(v);
    else if (k == "--settle")
      ok = millis(v, &o.settle);
    else if (k == "--cap")
      ok = millis(v, &o.cap);
    else if (k == "--heartbeat")
      ok = millis(v, &o.heartbeat);
    else if (k == "--backend" && std::strcmp(v, "auto") == 0)
      o.backend = WatchBackend::Auto;
    else if (k == "--backend" && std::strcmp(v, "fanotify") == 0)
      o.backend = WatchBackend::Fanotify;
    else if (k == "--backend" && std::strcmp(v, "inotify") == 0)
      o.backend = WatchBackend::Inotify;
    else
      ok = false;
    if (!ok) return usage();
  }
  if (o.roots.empty()) return usage();
  Status s = watch(o, STDOUT_FILENO);
  return s.ok() ? 0 : fail(s.error());
}

int cmdManifest(int argc, char** argv) {
  std::string root;
  std::vector<ManifestItem> items;
  bool fromStdin = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--stdin") {
      fromStdin = true;
    } else if ((a == "--root" || a == "--pv") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--root") {
        root = v;
        continue;
      }
      auto it = parseManifestItem(v);
      if (!it.ok()) return fail(it.error());
      items.push_back(*it);
    } else {
      return usage();
    }
  }
  if (root.empty()) return usage();
  if (fromStdin) {
    char* line = nullptr;
    size_t cap = 0;
    ssize_t n;
    while ((n = ::getline(&line, &cap, stdin)) > 0) {
      std::string l(line, static_cast<size_t>(n));
      while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
      if (l.empty()) continue;
      auto it = parseManifestItem(l);
      if (!it.ok()) {
        std::free(line);
        return fail(it.error());
      }
      items.push_back(*it);
    }
    std::free(line);
  }
  Status s = writeManifest(root, std::move(items), stdout);
  return s.ok() ? 0 : fail(s.error());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "version") {
    // The manifest's digest format is part of what DR compares: a mover without it is replaced.
    std::printf("ocpv-dr-mover %s stream %u manifest %s\n", OCPVDR_VERSION, kStreamVersion,
                kDigestVersion);
    return 0;
  }
  if (cmd == "send") return cmdSend(argc, argv);
  if (cmd == "snapshot") return cmdSnapshot(argc, argv);
  if (cmd == "apply") return cmdApply(argc, argv);
  if (cmd == "probe") return cmdProbe(argc, argv);
  if (cmd == "checksum") return cmdChecksum(argc, argv);
  if (cmd == "watch") return cmdWatch(argc, argv);
  if (cmd == "manifest") return cmdManifest(argc, argv);
  return usage();
}
