#include "collectors/fingerprint/sip_options.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tlsaudit::collectors::fingerprint {
namespace {

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<std::string> lines(std::string_view message) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find("\r\n", pos);
    if (end == std::string_view::npos) {
      out.emplace_back(message.substr(pos));
      break;
    }
    out.emplace_back(message.substr(pos, end - pos));
    pos = end + 2;
  }
  return out;
}

SipOptionsRequest sampleRequest() {
  SipOptionsRequest request;
  request.target_host = "pbx.example.org";
  request.target_port = 5061;
  request.local_host = "192.0.2.10";
  request.local_port = 40123;
  request.call_id = "a84b4c76e66710@192.0.2.10";
  request.branch = "776asdhds";
  request.tag = "1928301774";
  return request;
}

TEST(SipOptionsBuild, RequiredHeaders) {
  std::string message = buildSipOptions(sampleRequest());
  ASSERT_GE(message.size(), 4u);
  EXPECT_EQ(message.substr(message.size() - 4), "\r\n\r\n");
  std::vector<std::string> got = lines(message);
  std::vector<std::string> expected = {
      "OPTIONS sip:pbx.example.org:5061 SIP/2.0",
      "Via: SIP/2.0/TLS 192.0.2.10:40123;branch=z9hG4bK776asdhds;rport",
      "Max-Forwards: 70",
      "From: <sip:tlsaudit@192.0.2.10>;tag=1928301774",
      "To: <sip:pbx.example.org:5061>",
      "Call-ID: a84b4c76e66710@192.0.2.10",
      "CSeq: 1 OPTIONS",
      "Contact: <sip:tlsaudit@192.0.2.10:40123;transport=tls>",
      "Accept: application/sdp",
      "User-Agent: tlsaudit",
      "Content-Length: 0",
      "",
  };
  EXPECT_EQ(got, expected);
}

TEST(SipOptionsBuild, Ipv6AndTransport) {
  SipOptionsRequest request = sampleRequest();
  request.transport = "udp";
  request.target_host = "2001:db8::1";
  request.target_port = 5060;
  request.local_host = "2001:db8::10";
  std::string message = buildSipOptions(request);
  EXPECT_EQ(message.rfind("OPTIONS sip:[2001:db8::1]:5060 SIP/2.0\r\n", 0), 0u);
  EXPECT_NE(message.find("Via: SIP/2.0/UDP [2001:db8::10]:40123;branch=z9hG4bK"),
            std::string::npos);
  EXPECT_NE(message.find("From: <sip:tlsaudit@[2001:db8::10]>;tag="), std::string::npos);
  EXPECT_NE(message.find("To: <sip:[2001:db8::1]:5060>\r\n"), std::string::npos);
  EXPECT_NE(message.find(";transport=udp>"), std::string::npos);
}

TEST(SipOptionsBuild, FieldsCannotInjectHeaders) {
  SipOptionsRequest request = sampleRequest();
  request.call_id = "abc\r\nEvil: 1";
  request.tag = "t a\r\ng";
  request.branch = "b;x=1";
  request.target_host = "pbx.example.org\r\nEvil: 2";
  std::string message = buildSipOptions(request);
  EXPECT_EQ(message.find("\r\nEvil"), std::string::npos);
  EXPECT_NE(message.find("Call-ID: abcEvil:1\r\n"), std::string::npos);
  EXPECT_NE(message.find(";tag=tag\r\n"), std::string::npos);
  EXPECT_NE(message.find(";branch=z9hG4bKbx1;rport"), std::string::npos);
  // Exactly one blank line: the end of the headers.
  EXPECT_EQ(message.find("\r\n\r\n"), message.size() - 4);
}

constexpr std::string_view kOkWithUserAgent =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TLS 192.0.2.10:40123;branch=z9hG4bK776asdhds;rport=40123;received=192.0.2.10\r\n"
    "From: <sip:tlsaudit@192.0.2.10>;tag=1928301774\r\n"
    "To: <sip:pbx.example.org:5061>;tag=as6151ad25\r\n"
    "Call-ID: a84b4c76e66710@192.0.2.10\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "user-agent: Asterisk PBX 18.10.0~dfsg+~cs6.10.40431411-1\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n"
    "Supported: replaces, timer\r\n"
    "Accept: application/sdp\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST(SipOptionsParse, OkWithUserAgent) {
  auto response = parseSipResponse(bytes(kOkWithUserAgent));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status_code, 200);
  EXPECT_EQ(response->status_line, "SIP/2.0 200 OK");
  EXPECT_EQ(response->user_agent, "Asterisk PBX 18.10.0~dfsg+~cs6.10.40431411-1");
  EXPECT_EQ(response->server, "");
}

TEST(SipOptionsParse, ServerOnlyWithFoldingAndSpacing) {
  std::string message =
      "\r\n\r\n"  // keep-alive CRLFs before the start line
      "SIP/2.0 404 Not Found\n"
      "v: SIP/2.0/TLS 192.0.2.10:40123;branch=z9hG4bKx\n"
      "SERVER   :   FreeSWITCH-mod_sofia/1.10.9\n"
      "\t  release build\n"
      "Content-Length: 0\n"
      "\n";
  auto response = parseSipResponse(bytes(message));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status_code, 404);
  EXPECT_EQ(response->server, "FreeSWITCH-mod_sofia/1.10.9 release build");
  EXPECT_EQ(response->user_agent, "");
}

TEST(SipOptionsParse, Incomplete) {
  std::string_view whole = kOkWithUserAgent;
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    auto response = parseSipResponse(bytes(whole.substr(0, cut)));
    EXPECT_FALSE(response.has_value()) << "cut " << cut;
  }
  EXPECT_FALSE(parseSipResponse(bytes("\r\n\r\n")).has_value());
}

TEST(SipOptionsParse, Garbage) {
  auto http = parseSipResponse(bytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
  ASSERT_TRUE(http.has_value());
  EXPECT_EQ(http->status_code, 0);
  EXPECT_EQ(http->status_line.rfind("not a SIP response", 0), 0u);
  // Detected before any line ends, so a TLS alert does not wait for a blank line forever.
  auto alert = parseSipResponse(bytes(std::string_view("\x15\x03\x03\x00\x02\x02\x28", 7)));
  ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(alert->status_code, 0);
  auto request = parseSipResponse(bytes("OPTIONS sip:a SIP/2.0\r\n\r\n"));
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->status_code, 0);
  for (std::string_view bad :
       {"SIP/2.0 2000 OK\r\n\r\n", "SIP/2.0 20 OK\r\n\r\n", "SIP/2.0 OK\r\n\r\n",
        "SIP/2.0 900 Odd\r\n\r\n", "SIP/3.0 200 OK\r\n\r\n"}) {
    auto response = parseSipResponse(bytes(bad));
    ASSERT_TRUE(response.has_value()) << bad;
    EXPECT_EQ(response->status_code, 0) << bad;
    EXPECT_FALSE(response->status_line.empty()) << bad;
  }
  auto bare = parseSipResponse(bytes("sip/2.0 100\r\n\r\n"));
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->status_code, 100);
}

TEST(SipOptionsParse, ValuesAreSanitisedAndCapped) {
  std::string message = "SIP/2.0 200 OK\r\nUser-Agent: evil\x1b[2J\x7f\xc3\xa9" +
                        std::string(1000, 'u') + "\r\nServer: first\r\nServer: second\r\n\r\n";
  auto response = parseSipResponse(bytes(message));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->user_agent.size(), 256u);
  EXPECT_EQ(response->user_agent.substr(0, 12), "evil?[2J???u");
  EXPECT_EQ(response->server, "first");
}

TEST(SipOptionsParse, Oversize) {
  std::string huge = "SIP/2.0 200 OK\r\n";
  while (huge.size() <= kMaxSipHeaderBytes) huge += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  auto response = parseSipResponse(bytes(huge));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status_code, 0);
  EXPECT_EQ(response->status_line, "SIP header block larger than 16384 bytes");
  // A complete block within the limit followed by a large body is fine.
  std::string with_body = std::string(kOkWithUserAgent) + std::string(100000, 'b');
  auto ok = parseSipResponse(bytes(with_body));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status_code, 200);
}

}  // namespace
}  // namespace tlsaudit::collectors::fingerprint
