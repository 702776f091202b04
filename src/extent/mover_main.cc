// ocpv-dr-mover: the extent mover's two ends in one static binary.
//
//   ocpv-dr-mover send --root R --pv NAME --dir D [--base ID] [--allow-empty] [--id ID]
//       primary side, started over ssh by DR like rsync's remote side: snapshot + stream on stdout;
//       one report line on stderr ("OCPVDR-MOVER sent key=value ...") or a guard line
//       ("OCPVDR-GUARD <verdict> <path>", exit 97) or "OCPVDR-MOVER error <kind>: <message>".
//   ocpv-dr-mover apply --points DIR
//       DR side: a stream on stdin becomes a recovery point; report line on stdout.
//   ocpv-dr-mover probe --root R
//       "OCPVDR-MOVER probe reflink=yes" or "... reflink=no <why>" on stdout (exit 0), or an
//       error when the probe could not run: can the extent mover work on R's file system?
//   ocpv-dr-mover checksum --root R --pv NAME --snapshot ID | --tree DIR
//       per-file SHA-256 of a snapshot's tree on the primary (or of any tree), one line per
//       file or link on stdout (extent/checksum.h); `ocpv-dr points verify` compares them with
//       the same sums of the DR point. NotFound (7) when the snapshot is not there (any more).
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
#include "extent/manifest.h"
#include "extent/sender.h"
#include "extent/snapshot.h"
#include "extent/stream.h"

#ifndef OCPVDR_VERSION
#define OCPVDR_VERSION "0"
#endif

using namespace ocpvdr;
using namespace ocpvdr::extent;

namespace {

constexpr int kGuardExit = 97;

int usage() {
  std::fprintf(stderr,
               "usage: ocpv-dr-mover send --root R --pv NAME --dir D [--base ID] [--allow-empty]\n"
               "       ocpv-dr-mover apply --points DIR\n"
               "       ocpv-dr-mover probe --root R\n"
               "       ocpv-dr-mover checksum --root R --pv NAME --snapshot ID | --tree DIR\n"
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
                  {"--allow-empty", false}},
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
      "source_digest=%s\n",
      r->snapshotId.c_str(), r->baseId.c_str(), static_cast<long long>(r->dataTimeNs),
      static_cast<unsigned long long>(r->entries), static_cast<unsigned long long>(r->files),
      static_cast<unsigned long long>(r->dataBytes),
      static_cast<unsigned long long>(r->allocatedBytes),
      static_cast<unsigned long long>(r->streamBytes), static_cast<unsigned long long>(r->skipped),
      static_cast<unsigned long long>(storageReadBytes() - read0), r->sourceDigest.c_str());
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
  if (cmd == "apply") return cmdApply(argc, argv);
  if (cmd == "probe") return cmdProbe(argc, argv);
  if (cmd == "checksum") return cmdChecksum(argc, argv);
  if (cmd == "manifest") return cmdManifest(argc, argv);
  return usage();
}
