// Work keys: the names pv/<name> and snap/<ns>/<name>, and reading the kind back from a key.
#include "events/work_key.h"

#include <gtest/gtest.h>

#include "events/signature.h"

namespace ocpvdr::events {
namespace {

TEST(WorkKey, BuildsThePvAndSnapshotKeys) {
  EXPECT_EQ(pvKey("pvc-1"), "pv/pvc-1");
  EXPECT_EQ(snapshotKey("vms", "nightly"), "snap/vms/nightly");
}

TEST(WorkKey, ReadsTheKindBackFromAKey) {
  EXPECT_TRUE(isPvKey(pvKey("a")));
  EXPECT_FALSE(isSnapshotKey(pvKey("a")));
  EXPECT_TRUE(isSnapshotKey(snapshotKey("ns", "s")));
  EXPECT_FALSE(isPvKey(snapshotKey("ns", "s")));
  EXPECT_EQ(kindOfKey("pv/a"), "PersistentVolume");
  EXPECT_EQ(kindOfKey("snap/ns/s"), "VolumeSnapshot");
  EXPECT_EQ(kindOfKey("vm/ns/v"), "");
  EXPECT_EQ(kindOfKey("pv"), "");  // the prefix needs its slash
  EXPECT_EQ(kindOfKey(""), "");
}

TEST(Signature, TheSignatureValueIsWhatTheCheckAccepts) {
  const std::string body = R"({"kind":"PersistentVolume"})";
  const std::string value = signatureValue("k3y", body);
  EXPECT_EQ(value, "sha256=" + hmacSha256Hex("k3y", body));
  EXPECT_TRUE(checkSignature(value, body, "k3y").ok());
  EXPECT_FALSE(checkSignature(value, body, "other").ok());
  EXPECT_EQ(std::string_view(kSignatureHeader), "x-hub-signature-256");
}

}  // namespace
}  // namespace ocpvdr::events
