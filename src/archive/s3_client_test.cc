#include "archive/s3_client.h"

#include <gtest/gtest.h>

namespace verbatim::archive {
namespace {

// The worked example of AWS's Signature Version 4 documentation for S3 (GET Object with a range):
// the signature is theirs, computed by their implementation.
TEST(SigV4, SignsAwsDocumentedGetObjectExample) {
  SigV4Request r;
  r.method = "GET";
  r.canonical_uri = "/test.txt";
  r.headers = {
      {"Host", "examplebucket.s3.amazonaws.com"},
      {"Range", "bytes=0-9"},
      {"x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"x-amz-date", "20130524T000000Z"}};
  r.payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  r.amz_date = "20130524T000000Z";
  r.region = "us-east-1";
  EXPECT_EQ(
      sigv4_authorization(r, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // Any change to what is signed changes the signature.
  r.headers[1].second = "bytes=0-10";
  EXPECT_EQ(
      sigv4_authorization(r, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
          .find("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
      std::string::npos);
}

TEST(SigV4, EncodesPathsAndQueriesCanonically) {
  EXPECT_EQ(s3_uri_encode("a b/c+d~e", true), "a%20b/c%2Bd~e");
  EXPECT_EQ(s3_uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(s3_query_string({{"uploadId", "x y"}, {"partNumber", "2"}, {"uploads", ""}}),
            "partNumber=2&uploadId=x%20y&uploads=");
}

TEST(S3Replies, ParsesListingsVersionsErrorsAndLockConfiguration) {
  auto l = parse_s3_listing(
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<IsTruncated>true</IsTruncated><Contents><Key>ab/1.vbo</Key></Contents>"
      "<Contents><Key>cd/2.vbo</Key></Contents><NextContinuationToken>t1</NextContinuationToken>"
      "</ListBucketResult>");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l.value().keys, (std::vector<std::string>{"ab/1.vbo", "cd/2.vbo"}));
  EXPECT_EQ(l.value().next_token, "t1");
  EXPECT_FALSE(
      parse_s3_listing("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"))
      << "a cut listing without a token would loop or lose keys";
  EXPECT_FALSE(parse_s3_listing("not xml"));
  EXPECT_FALSE(parse_s3_listing("<Other/>"));

  auto v = parse_s3_versions(
      "<ListVersionsResult><Version><Key>k</Key><VersionId>v1</VersionId></Version>"
      "<DeleteMarker><Key>k</Key><VersionId>v2</VersionId></DeleteMarker>"
      "<IsTruncated>false</IsTruncated></ListVersionsResult>");
  ASSERT_TRUE(v);
  ASSERT_EQ(v.value().versions.size(), 2u);
  EXPECT_FALSE(v.value().versions[0].delete_marker);
  EXPECT_TRUE(v.value().versions[1].delete_marker);
  EXPECT_EQ(v.value().versions[1].version_id, "v2");

  const auto e = parse_s3_error(
      "<Error><Code>AccessDenied</Code><Message>forbidden by object lock</Message></Error>");
  EXPECT_EQ(e.code, "AccessDenied");
  EXPECT_EQ(e.message, "forbidden by object lock");
  EXPECT_TRUE(parse_s3_error("").code.empty());

  auto c = parse_s3_lock_configuration(
      "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
      "<DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days></DefaultRetention></Rule>"
      "</ObjectLockConfiguration>");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c.value().enabled);
  EXPECT_EQ(c.value().default_mode, "COMPLIANCE");
  EXPECT_FALSE(parse_s3_lock_configuration("<ObjectLockConfiguration/>").value().enabled);

  EXPECT_EQ(parse_s3_upload_id("<InitiateMultipartUploadResult><UploadId>u-1</UploadId>"
                               "</InitiateMultipartUploadResult>")
                .value(),
            "u-1");
  EXPECT_FALSE(parse_s3_upload_id("<InitiateMultipartUploadResult/>"));
}

TEST(S3Client, RefusesIncompleteConfiguration) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:9";
  c.bucket = "b";
  auto r = S3Client::make(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("credentials"), std::string::npos);
  c.access_key = "a";
  c.secret_key = "s";
  c.endpoint = "ftp://x";
  EXPECT_FALSE(S3Client::make(c));
  c.endpoint = "http://127.0.0.1:9/bucket";
  EXPECT_FALSE(S3Client::make(c)) << "the bucket is a setting of its own";
  c.endpoint = "http://127.0.0.1:9";
  c.bucket = "";
  EXPECT_FALSE(S3Client::make(c));
}

TEST(S3Client, GivesUpOnAnUnreachableStoreAfterItsAttempts) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:9";
  c.bucket = "b";
  c.access_key = "a";
  c.secret_key = "s";
  c.attempts = 3;
  c.first_backoff = std::chrono::milliseconds(1);
  c.timeout = std::chrono::milliseconds(500);
  auto client = S3Client::make(c).value();
  auto h = client.head("k");
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("after 3 attempts"), std::string::npos) << h.error().message;
}

TEST(S3Checksums, Md5InHexAndBase64) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
}

}  // namespace
}  // namespace verbatim::archive
