// HTTP banner request and parser (collectors/fingerprint/http_banner.h).
#include "collectors/fingerprint/http_banner.h"

#include <gtest/gtest.h>

#include <vector>

namespace tlsaudit::collectors::fingerprint {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(HttpBannerTest, RequestNamesHostAndClosesConnection) {
  auto req = buildHttpGet("192.0.2.1");
  EXPECT_EQ(req.rfind("GET / HTTP/1.0\r\nHost: 192.0.2.1\r\n", 0), 0u);
  EXPECT_NE(req.find("Connection: close\r\n\r\n"), std::string::npos);
  EXPECT_NE(buildHttpGet("2001:db8::1").find("Host: [2001:db8::1]\r\n"), std::string::npos);
}

TEST(HttpBannerTest, ServerTitleAndRealm) {
  auto b = parseHttpResponse(
      bytes("HTTP/1.1 401 Unauthorized\r\nserver:  Polycom SoundPoint IP Telephone HTTPd\r\n"
            "WWW-Authenticate: Basic realm=\"PLCM_SPIP\"\r\n\r\n<html><head><TITLE>\n  Polycom "
            "&amp; friends\n</TITLE></head>"),
      false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 401);
  EXPECT_EQ(b->server, "Polycom SoundPoint IP Telephone HTTPd");
  EXPECT_EQ(b->www_authenticate_realm, "PLCM_SPIP");
  EXPECT_EQ(b->title, "Polycom & friends");
}

TEST(HttpBannerTest, IncompleteNotHttpAndHostile) {
  EXPECT_FALSE(parseHttpResponse(bytes("HTTP/1.1 200 OK\r\nServer: x"), false));
  auto b = parseHttpResponse(bytes("HTTP/1.1 200 OK\r\nServer: x"), true);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200);
  EXPECT_EQ(b->server, "x");
  b = parseHttpResponse(bytes("SSH-2.0-OpenSSH_9.2\r\n\r\n"), false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 0);
  b = parseHttpResponse(bytes("HTTP/1.0 200 OK\r\nServer: evil\x1b[2J\r\n\r\n<title>a\x07</title>"),
                        false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->server, "evil?[2J");
  EXPECT_EQ(b->title, "a?");
  std::string huge = "HTTP/1.0 200 OK\r\n" + std::string(kMaxHttpBytes, 'a');
  b = parseHttpResponse(bytes(huge), false);
  ASSERT_TRUE(b);  // the cap ends waiting
  EXPECT_TRUE(httpTitleSettled(bytes("<html><title>x</title>")));
  EXPECT_FALSE(httpTitleSettled(bytes("<html><title>x")));
  EXPECT_TRUE(httpTitleSettled(bytes("<html><body>no title")));
}

}  // namespace
}  // namespace tlsaudit::collectors::fingerprint
