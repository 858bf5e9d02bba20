#include "sip/uri.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

TEST(Uri, ParsesSipUriParts) {
  auto u = parse_uri("sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?Subject=hi&X=1");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u.value().scheme, Uri::Scheme::kSips);
  EXPECT_EQ(u.value().user, "alice");
  EXPECT_EQ(u.value().password.value(), "secret");
  EXPECT_EQ(u.value().host, "[2001:db8::10]");
  EXPECT_EQ(u.value().host_kind, HostKind::kIpv6);
  EXPECT_EQ(u.value().port.value(), 5061);
  EXPECT_EQ(u.value().param("TRANSPORT").value(), "tls");
  EXPECT_TRUE(u.value().has_param("lr"));
  EXPECT_FALSE(u.value().param("lr")->size());
  ASSERT_EQ(u.value().headers.size(), 2u);
  EXPECT_EQ(u.value().to_string(), u.value().text);
}

TEST(Uri, EscapesSemicolonsInUserAndIpv6Ports) {
  // RFC 4475 esc01 / semiuri: escaped characters and ';' belong to the user part.
  auto e = parse_uri("sip:sips%3Auser%40example.com@example.net");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.value().scheme, Uri::Scheme::kSip);
  EXPECT_EQ(e.value().user_unescaped(), "sips:user@example.com");
  auto s = parse_uri("sip:user;par=u%40example.net@example.com");
  ASSERT_TRUE(s);
  EXPECT_EQ(s.value().user, "user;par=u%40example.net");
  EXPECT_TRUE(s.value().params.empty());
  auto nul = parse_uri("sip:null-%00-null@example.com");
  ASSERT_TRUE(nul);
  EXPECT_EQ(nul.value().user_unescaped(), std::string("null-\0-null", 11));
  // RFC 5118 §4.3/4.4: inside the brackets 5070 is part of the address.
  EXPECT_FALSE(parse_uri("sip:[2001:db8::10:5070]").value().port);
  EXPECT_EQ(parse_uri("sip:[2001:db8::10]:5070").value().port.value(), 5070);
}

TEST(Uri, RejectsWithTheReason) {
  struct Bad {
    const char* uri;
    const char* says;
  };
  for (const Bad& b :
       {Bad{"sip:2001:db8::10", "brackets"}, Bad{"sip:[2001:db8:::192.0.2.1]", "not a valid host"},
        Bad{"sip:user@exa mple.com", "not a valid host"}, Bad{"sip:", "no host"},
        Bad{"sip:@example.com", "empty user"}, Bad{"sip:a@b.com:99999", "invalid port"},
        Bad{"sip:a@b.com;;lr", "empty URI parameter"}, Bad{"nohost", "no scheme"},
        Bad{"1sip:a@b", "start with a letter"}, Bad{"sip:a@192.0.2.300", "not a valid host"},
        Bad{"sip:us er@b.com", "a space"}, Bad{"tel:", "needs a number"},
        Bad{"sip:a%4@b.com", "'%'"}}) {
    auto u = parse_uri(b.uri);
    ASSERT_FALSE(u) << b.uri;
    EXPECT_NE(u.error().message.find(b.says), std::string::npos)
        << b.uri << ": " << u.error().message;
  }
}

TEST(Uri, TelAndOtherSchemesRoundTrip) {
  auto t = parse_uri("tel:+1-201-555-0123;phone-context=example.com");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t.value().scheme, Uri::Scheme::kTel);
  EXPECT_EQ(t.value().user, "+1-201-555-0123");
  EXPECT_EQ(t.value().param("phone-context").value(), "example.com");
  EXPECT_EQ(t.value().to_string(), t.value().text);
  auto o = parse_uri("isbn:2983792873");
  ASSERT_TRUE(o);
  EXPECT_EQ(o.value().scheme, Uri::Scheme::kOther);
  EXPECT_EQ(o.value().to_string(), "isbn:2983792873");
}

}  // namespace
}  // namespace verbatim::sip
