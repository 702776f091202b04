// S3ObjectStore against a real s3rver (object API behaviour; signatures are proven by the
// known-answer and botocore tests): put, list with prefix/delimiter/paging, ranged GET, HEAD,
// downloads to file, and 404s/403s decoded into error kinds.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "backup/backup_discovery.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "s3/s3_object_store.h"
#include "support/s3rver_process.h"
#include "support/temp_dir.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::s3 {
namespace {

using ocpvdr::testing::S3rverProcess;

class S3rver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = S3rverProcess::start({"velero", "other"});
    if (!s.ok()) {
      startError_ = new Error(s.error());
      return;
    }
    server_ = s.value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete startError_;
    startError_ = nullptr;
  }
  void SetUp() override {
    if (startError_ && startError_->kind == ErrorKind::NotFound)
      GTEST_SKIP() << startError_->message;
    ASSERT_EQ(startError_, nullptr) << startError_->describe();
    store_ = makeStore("velero", S3rverProcess::kAccessKey);
  }

  std::unique_ptr<S3ObjectStore> makeStore(const std::string& bucket, const std::string& key) {
    S3Options o;
    o.endpoint = server_->endpoint();
    o.bucket = bucket;
    o.maxAttempts = 2;
    o.initialBackoff = Millis(10);
    auto s = S3ObjectStore::create(o, AwsCredentials{key, S3rverProcess::kSecretKey, "", "test"},
                                   http_, clock_);
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }

  static S3rverProcess* server_;
  static Error* startError_;
  CurlHttpClient http_;
  RealClock clock_;
  std::unique_ptr<S3ObjectStore> store_;
};

S3rverProcess* S3rver::server_ = nullptr;
Error* S3rver::startError_ = nullptr;

TEST_F(S3rver, ListWithPrefixDelimiterAndSmallPages) {
  const std::vector<std::string> keys = {"t1/backups/a b+c/velero-backup.json",
                                         "t1/backups/a-loose",
                                         "t1/backups/b1/b1.tar.gz",
                                         "t1/backups/b1/velero-backup.json",
                                         "t1/backups/b2/velero-backup.json",
                                         "t1/backups/b2-loose",
                                         "t1/backups/b3/x",
                                         "t1/backups/loose-file",
                                         "t1/restores/r1/log",
                                         "t1/top.txt"};
  for (const auto& k : keys) ASSERT_TRUE(store_->put(k, "v:" + k).ok()) << k;

  // s3rver counts only keys towards max-keys (S3 counts common prefixes too) and may repeat a
  // prefix on a later page; the client follows every page and keeps each prefix once.
  auto dirs = store_->list({"t1/backups/", "/", 1});
  ASSERT_TRUE(dirs.ok()) << dirs.error().describe();
  EXPECT_EQ(dirs->commonPrefixes, (std::vector<std::string>{"t1/backups/a b+c/", "t1/backups/b1/",
                                                            "t1/backups/b2/", "t1/backups/b3/"}));
  std::vector<std::string> loose;
  for (const auto& o : dirs->objects) loose.push_back(o.key);
  EXPECT_EQ(loose, (std::vector<std::string>{"t1/backups/a-loose", "t1/backups/b2-loose",
                                             "t1/backups/loose-file"}));
  EXPECT_GE(dirs->pages, 3) << "max-keys=1 must page";

  auto all = store_->list({"t1/", "", 3});
  ASSERT_TRUE(all.ok()) << all.error().describe();
  std::vector<std::string> got;
  for (const auto& o : all->objects) got.push_back(o.key);
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(got, sorted);    // each once, in S3 key order ("b2-loose" before "b2/...")
  EXPECT_GE(all->pages, 4);  // 10 keys, 3 per page
  EXPECT_TRUE(all->commonPrefixes.empty());
  EXPECT_EQ(all->objects[9].size, static_cast<std::int64_t>(std::string("v:t1/top.txt").size()));

  auto none = store_->list({"t1/nothing-here/", "/", 1000});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->objects.empty());
  EXPECT_EQ(none->pages, 1);
}

TEST_F(S3rver, RangedGetHeadAndDownload) {
  ASSERT_TRUE(store_->put("t2/digits", "0123456789", "text/plain").ok());
  auto mid = store_->get("t2/digits", 100, ByteRange{2, 5});
  ASSERT_TRUE(mid.ok()) << mid.error().describe();
  EXPECT_EQ(*mid, "2345");
  auto tail = store_->get("t2/digits", 100, ByteRange{7, std::nullopt});
  ASSERT_TRUE(tail.ok()) << tail.error().describe();
  EXPECT_EQ(*tail, "789");
  auto whole = store_->get("t2/digits", 100);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, "0123456789");

  auto head = store_->head("t2/digits");
  ASSERT_TRUE(head.ok()) << head.error().describe();
  EXPECT_EQ(head->size, 10);
  EXPECT_EQ(head->etag, "781e5e245d69b566979b86e28d23f2c7");  // MD5 of the content

  // A 3 MiB binary object round trip through a file, and a ranged download.
  std::string blob(3 << 20, '\0');
  std::mt19937 rng(42);
  for (char& c : blob) c = static_cast<char>(rng());
  ocpvdr::testing::TempDir dir;
  auto src = dir.write("blob.bin", blob);
  ASSERT_TRUE(store_->putFile("t2/blob.bin", src.string()).ok());
  auto info = store_->getToFile("t2/blob.bin", (dir / "copy.bin").string());
  ASSERT_TRUE(info.ok()) << info.error().describe();
  EXPECT_EQ(info->size, static_cast<std::int64_t>(blob.size()));
  std::ifstream in(dir / "copy.bin", std::ios::binary);
  std::string copy((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(copy == blob);
  auto part = store_->getToFile("t2/blob.bin", (dir / "part.bin").string(), ByteRange{1000, 1999});
  ASSERT_TRUE(part.ok()) << part.error().describe();
  EXPECT_EQ(part->size, 1000);
}

TEST_F(S3rver, MissingKeysBucketsAndUnknownCredentials) {
  auto get = store_->get("t3/missing", 10);
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().kind, ErrorKind::NotFound);
  EXPECT_NE(get.error().message.find("HTTP 404 NoSuchKey"), std::string::npos)
      << get.error().message;
  auto head = store_->head("t3/missing");
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.error().kind, ErrorKind::NotFound);
  ocpvdr::testing::TempDir dir;
  auto file = store_->getToFile("t3/missing", (dir / "x").string());
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));

  auto noBucket = makeStore("no-such-bucket", S3rverProcess::kAccessKey);
  auto l = noBucket->list({"", "/", 10});
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().kind, ErrorKind::NotFound);
  EXPECT_NE(l.error().message.find("NoSuchBucket"), std::string::npos) << l.error().message;
  EXPECT_NE(l.error().message.find("check backup_store.bucket"), std::string::npos);

  // s3rver knows one access key; any other is answered 403 InvalidAccessKeyId.
  auto stranger = makeStore("velero", "AKIDUNKNOWN");
  auto denied = stranger->list({"", "/", 10});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, ErrorKind::Refused);
  EXPECT_NE(denied.error().message.find("InvalidAccessKeyId"), std::string::npos)
      << denied.error().message;
}

TEST_F(S3rver, CreateBucketAndDiscoverBackups) {
  auto fresh = makeStore("created-by-test", S3rverProcess::kAccessKey);
  auto created = fresh->createBucket();
  ASSERT_TRUE(created.ok()) << created.error().describe();
  // S3 answers a repeat by the owner with BucketAlreadyOwnedByYou (success here); s3rver says
  // BucketAlreadyExists, which is a Conflict.
  auto again = fresh->createBucket();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::Conflict) << again.error().describe();

  ocpvdr::testing::VeleroBackupSpec b;
  b.name = "nightly-1";
  b.started = parseTime("2026-11-24T00:00:00Z").value();
  b.completed = parseTime("2026-11-24T00:05:00Z").value();
  b.objects = {ocpvdr::testing::sampleVm("vms", "vm-1", "root")};
  for (auto& [key, data] : ocpvdr::testing::veleroBackupObjects("velero", b))
    ASSERT_TRUE(fresh->put(key, data).ok()) << key;
  backup::BackupDiscovery d(*fresh, "velero");
  auto latest = d.latest();
  ASSERT_TRUE(latest.ok()) << latest.error().describe();
  EXPECT_EQ(latest->name, "nightly-1");
  ocpvdr::testing::TempDir dir;
  auto path = d.downloadTarball(*latest, dir.str());
  ASSERT_TRUE(path.ok()) << path.error().describe();
  EXPECT_EQ(*path, dir.str() + "/nightly-1.tar.gz");
  EXPECT_TRUE(std::filesystem::exists(*path));
}

}  // namespace
}  // namespace ocpvdr::s3
