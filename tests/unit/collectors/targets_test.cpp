#include "collectors/net/targets.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace tlsaudit::net {
namespace {

TEST(TargetsTest, HostsPortsAndLiterals) {
  auto t = parseTarget("phone-lobby.example:5061");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "phone-lobby.example");
  EXPECT_EQ(t->port, 5061);
  t = parseTarget("192.0.2.7");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->port);
  t = parseTarget("[2001:db8::1]:8443");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "2001:db8::1");
  EXPECT_EQ(t->port, 8443);
  t = parseTarget("2001:db8::1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "2001:db8::1");
  EXPECT_FALSE(t->port);
}

TEST(TargetsTest, SchemesSelectDialogueAndDefaultPort) {
  auto t = parseTarget("smtp://mail.example");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->scheme, "smtp");
  EXPECT_EQ(t->port, 25);
  t = parseTarget("SIPS://10.1.2.3:5062/");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->scheme, "sips");
  EXPECT_EQ(t->port, 5062);
  EXPECT_EQ(parseTarget("postgres://db")->port, 5432);
  EXPECT_FALSE(parseTarget("gopher://x").ok());
}

TEST(TargetsTest, CidrBlocksExpandLazily) {
  auto t = parseTarget("10.1.2.77/30");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->isNetwork());
  EXPECT_EQ(t->network_size, 4u);
  EXPECT_EQ(t->addressAt(0).to_string(), "10.1.2.76");
  EXPECT_EQ(t->addressAt(3).to_string(), "10.1.2.79");
  auto big = parseTarget("10.0.0.0/8");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->network_size, 1u << 24);
  auto v6 = parseTarget("2001:db8::ff00/120");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->network_size, 256u);
  EXPECT_EQ(v6->addressAt(255).to_string(), "2001:db8::ffff");
  EXPECT_FALSE(parseTarget("2001:db8::/64").ok());  // too large to sweep
  EXPECT_FALSE(parseTarget("10.0.0.0/33").ok());
  EXPECT_FALSE(parseTarget("smtp://10.0.0.0/24").ok());
}

TEST(TargetsTest, ErrorsNameTheTarget) {
  for (const char* bad :
       {"", "host:", "host:0", "host:70000", "[::1", "[::1]x", "bad host", "-x"}) {
    auto t = parseTarget(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(std::string(t.status().message()).find("target '"), std::string::npos);
  }
}

TEST(TargetsTest, FileListsWithLineNumbers) {
  std::string path = ::testing::TempDir() + "/targets.txt";
  {
    std::ofstream f(path);
    f << "# phones\n127.0.0.1:443\n\n  imap://mail.example  \n";
  }
  auto list = parseTargets({"@" + path, "::1"});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].port, 143);
  {
    std::ofstream f(path);
    f << "127.0.0.1\nnot a target\n";
  }
  auto bad = parseTargets({"@" + path});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find(path + ":2:"), std::string::npos);
  EXPECT_FALSE(parseTargets({"@/nonexistent/file"}).ok());
  std::remove(path.c_str());
}

TEST(TargetsTest, PortLists) {
  auto p = parsePortList("443, 8443,1000-1002,443");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (std::vector<uint16_t>{443, 8443, 1000, 1001, 1002}));
  for (const char* bad : {"", "0", "65536", "5-3", "a", "1,,2"}) {
    EXPECT_FALSE(parsePortList(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace tlsaudit::net
