// The strict XML reader and the ListBucketResult / Error decoders, fed good and hostile input.
#include <gtest/gtest.h>

#include <random>

#include "s3/s3_xml.h"

namespace ocpvdr::s3 {
namespace {

void expectXmlError(std::string_view doc, std::string_view needle) {
  auto r = parseXml(doc);
  ASSERT_FALSE(r.ok()) << "accepted: " << doc;
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find(needle), std::string::npos)
      << "message \"" << r.error().message << "\" lacks \"" << needle << "\" for: " << doc;
}

TEST(XmlParser, ParsesDeclarationNamespacesAttributesCommentsAndCdata) {
  auto r = parseXml(
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- head -->\n"
      "<s3:Root xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1' b=\"x&amp;y\">"
      "<s3:Item>one</s3:Item><Item/><!-- mid --><Other><![CDATA[<raw & text>]]></Other>"
      "<?pi data?></s3:Root>\n<!-- tail -->\n");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->name, "Root");
  ASSERT_EQ(r->attributes.size(), 3u);
  EXPECT_EQ(r->attributes[2].second, "x&y");
  auto items = r->childrenNamed("Item");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]->text, "one");
  EXPECT_EQ(items[1]->text, "");
  ASSERT_NE(r->child("Other"), nullptr);
  EXPECT_EQ(r->child("Other")->text, "<raw & text>");
  EXPECT_EQ(r->child("Missing"), nullptr);
}

TEST(XmlParser, DecodesEntitiesAndCharacterReferences) {
  auto r = parseXml("<K>a&amp;b&lt;c&gt;d&quot;e&apos;f&#65;&#x42;&#xe9;&#x1F600;&#10;</K>");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->text, "a&b<c>d\"e'fAB\xC3\xA9\xF0\x9F\x98\x80\n");
}

TEST(XmlParser, RejectsMalformedDocumentsWithPosition) {
  expectXmlError("", "no root element");
  expectXmlError("   \n  ", "no root element");
  expectXmlError("hello", "text before the root element");
  expectXmlError("<a>", "not closed");
  expectXmlError("<a><b></a>", "end tag </a> does not match <b>");
  expectXmlError("<a></b>", "does not match");
  expectXmlError("<a></a><b></b>", "second element after the root");
  expectXmlError("<a></a>trailing", "text after the root");
  expectXmlError("<a>&unknown;</a>", "unknown entity \"&unknown;\"");
  expectXmlError("<a>AT&T</a>", "'&' not followed by");
  expectXmlError("<a>&#0;</a>", "not a legal XML character");
  expectXmlError("<a>&#xD800;</a>", "not a legal XML character");
  expectXmlError("<a>&#x110000;</a>", "not a legal XML character");
  expectXmlError("<a>&#xZZ;</a>", "malformed character reference");
  expectXmlError("<a>&#;</a>", "malformed character reference");
  expectXmlError("<a>\x01</a>", "control character");
  expectXmlError("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "DOCTYPE");
  expectXmlError("<a><!DOCTYPE b></a>", "declaration inside an element");
  expectXmlError("<a x=1></a>", "must be quoted");
  expectXmlError("<a x></a>", "has no value");
  expectXmlError("<a x=\"1\" x=\"2\"></a>", "duplicate attribute");
  expectXmlError("<a x=\"<\"></a>", "'<' in the value");
  expectXmlError("<a x=\"1\"y=\"2\"></a>", "expected whitespace");
  expectXmlError("<a x=\"1", "unterminated");
  expectXmlError("<a><!-- never closed </a>", "unterminated comment");
  expectXmlError("<a><![CDATA[ never closed </a>", "unterminated CDATA");
  expectXmlError("<?xml version=\"1.0\"", "unterminated processing instruction");
  expectXmlError("<1a></1a>", "expected a name");
  expectXmlError("<a></a", "malformed end tag");
  // Positions are reported as line and column.
  expectXmlError("<a>\n<b>\n</c>", "XML line 3, column 1");
}

TEST(XmlParser, EnforcesDepthAndElementLimits) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  for (int i = 0; i < 100; ++i) deep += "</a>";
  expectXmlError(deep, "nested deeper than 64");
  std::string many = "<r>";
  for (int i = 0; i < 20; ++i) many += "<x/>";
  many += "</r>";
  auto r = parseXml(many, XmlLimits{64, 10});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 10 elements"), std::string::npos);
}

TEST(XmlParser, TruncatedInputNeverCrashes) {
  const std::string doc =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Contents><Key>a&amp;b</Key>"
      "<Size>1</Size></Contents><![CDATA[x]]><!-- c --></ListBucketResult>";
  for (std::size_t n = 0; n < doc.size(); ++n) {
    auto r = parseXml(std::string_view(doc).substr(0, n));
    EXPECT_FALSE(r.ok()) << "prefix of length " << n << " accepted";
  }
  EXPECT_TRUE(parseXml(doc).ok());
}

TEST(XmlParser, RandomMutationsAreAcceptedOrRejectedButNeverCrash) {
  const std::string doc =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Contents><Key>a&amp;b&#x41;</Key>"
      "<Size>1</Size><ETag>&quot;e&quot;</ETag></Contents><CommonPrefixes><Prefix>p/</Prefix>"
      "</CommonPrefixes><![CDATA[x]]><!-- c --><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>";
  std::mt19937 rng(7);
  const std::string alphabet = "<>/&;#x\"'=!-[]?aZ09 \n\x01\xff";
  int rejected = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string m = doc;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0:
          m[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          m.erase(at, 1 + rng() % 8);
          break;
        default:
          m.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
      if (m.empty()) m = "<";
    }
    auto r = parseListBucketResult(m);  // must return, ok or not
    if (!r.ok()) {
      ++rejected;
      EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    }
  }
  EXPECT_GT(rejected, 2500);  // most mutations break the document, and are reported
}

const char* kListPage =
    R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix>velero/backups/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>2</MaxKeys>
  <Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>velero/backups/a &amp; b.json</Key>
    <LastModified>2026-11-24T00:12:21.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>
    <Size>1234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <CommonPrefixes><Prefix>velero/backups/nightly-1/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>velero/backups/nightly-2/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(ListBucketResult, DecodesAPage) {
  auto r = parseListBucketResult(kListPage);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->prefix, "velero/backups/");
  ASSERT_EQ(r->contents.size(), 1u);
  EXPECT_EQ(r->contents[0].key, "velero/backups/a & b.json");
  EXPECT_EQ(r->contents[0].size, 1234);
  EXPECT_EQ(r->contents[0].etag, "9b2cf535f27731c974343645a3985328");
  EXPECT_EQ(r->contents[0].lastModified, "2026-11-24T00:12:21.000Z");
  EXPECT_EQ(r->commonPrefixes,
            (std::vector<std::string>{"velero/backups/nightly-1/", "velero/backups/nightly-2/"}));
  EXPECT_TRUE(r->isTruncated);
  EXPECT_EQ(r->nextContinuationToken, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  ASSERT_TRUE(r->keyCount.has_value());
  EXPECT_EQ(*r->keyCount, 3);
}

TEST(ListBucketResult, KeysKeepTheirSpacesAndEmptyListingIsFine) {
  auto r = parseListBucketResult(
      "<ListBucketResult><Contents><Key> padded key </Key><Size>0</Size></Contents>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->contents[0].key, " padded key ");
  auto empty = parseListBucketResult(
      "<ListBucketResult><Prefix/><KeyCount>0</KeyCount>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty.ok()) << empty.error().describe();
  EXPECT_TRUE(empty->contents.empty());
  EXPECT_FALSE(empty->isTruncated);
}

TEST(ListBucketResult, UrlEncodingTypeIsDecoded) {
  auto r = parseListBucketResult(
      "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%2Fb+c%25</Key>"
      "<Size>1</Size></Contents><CommonPrefixes><Prefix>p%20q/</Prefix></CommonPrefixes>"
      "</ListBucketResult>");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->contents[0].key, "a/b c%");
  EXPECT_EQ(r->commonPrefixes[0], "p q/");
}

TEST(ListBucketResult, RejectsBadShapes) {
  auto expectBad = [](std::string_view xml, std::string_view needle) {
    auto r = parseListBucketResult(xml);
    ASSERT_FALSE(r.ok()) << xml;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expectBad("<Error><Code>AccessDenied</Code></Error>", "expected a ListBucketResult");
  expectBad("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            "Contents[0] has no Key");
  expectBad("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
            "(k) has no Size");
  expectBad(
      "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
      "</ListBucketResult>",
      "non-negative integer");
  expectBad(
      "<ListBucketResult><Contents><Key>k</Key><Size>12abc</Size></Contents>"
      "</ListBucketResult>",
      "non-negative integer");
  expectBad(
      "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999999</Size>"
      "</Contents></ListBucketResult>",
      "non-negative integer");
  expectBad("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
            "IsTruncated must be true or false");
  expectBad("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            "no NextContinuationToken");
  expectBad("<ListBucketResult><KeyCount>x</KeyCount></ListBucketResult>", "KeyCount");
  expectBad("<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>",
            "CommonPrefixes[0] has no Prefix");
  expectBad("<ListBucketResult><EncodingType>base64</EncodingType></ListBucketResult>",
            "unsupported EncodingType");
  expectBad(
      "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%2</Key>"
      "<Size>1</Size></Contents></ListBucketResult>",
      "%-escape");
  expectBad("<ListBucketResult><Contents><Key>k</Key>", "not closed");
}

TEST(S3ErrorXml, DecodesCodeMessageAndResource) {
  auto r = parseS3Error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
      "<Message>The specified key does not exist.</Message><Key>velero/backups/x.json</Key>"
      "<RequestId>4442587FB7D0A2F9</RequestId></Error>");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->code, "NoSuchKey");
  EXPECT_EQ(r->message, "The specified key does not exist.");
  EXPECT_EQ(r->resource, "velero/backups/x.json");
  EXPECT_EQ(r->requestId, "4442587FB7D0A2F9");

  auto noCode = parseS3Error("<Error><Message>m</Message></Error>");
  ASSERT_FALSE(noCode.ok());
  EXPECT_NE(noCode.error().message.find("no Code"), std::string::npos);
  auto wrongRoot = parseS3Error("<ListBucketResult/>");
  ASSERT_FALSE(wrongRoot.ok());
  EXPECT_NE(wrongRoot.error().message.find("expected an Error document"), std::string::npos);
  auto html = parseS3Error("<html><body>502 Bad Gateway</body>");
  ASSERT_FALSE(html.ok());
}

}  // namespace
}  // namespace ocpvdr::s3
