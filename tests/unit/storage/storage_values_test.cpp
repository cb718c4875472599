// Pure helpers of the storage layer: array and bytea text forms (the only way lists reach
// SQL, so their escaping is what keeps values values), page tokens, service names, SQLSTATE
// mapping and migration file names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/migrator.h"
#include "storage/page_token.h"
#include "storage/pg_connection.h"
#include "storage/pg_finding_store.h"

namespace tlsaudit::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PgTextArray, QuotesAndEscapesEveryElement) {
  EXPECT_EQ(pgTextArray({}), "{}");
  EXPECT_EQ(pgTextArray({"a", "b c"}), R"({"a","b c"})");
  EXPECT_EQ(pgTextArray({R"(x"},{"y)", R"(back\slash)", "NULL", ""}),
            R"({"x\"},{\"y","back\\slash","NULL",""})");
}

TEST(PgTextArray, ParseInvertsWhatPostgresPrints) {
  EXPECT_THAT(parsePgTextArray("{}"), ElementsAre());
  EXPECT_THAT(parsePgTextArray("{a,b}"), ElementsAre("a", "b"));
  EXPECT_THAT(parsePgTextArray(R"({"x\"},{\"y","back\\slash",plain})"),
              ElementsAre(R"(x"},{"y)", R"(back\slash)", "plain"));
  EXPECT_THAT(parsePgTextArray("not an array"), ElementsAre());
}

TEST(PgBytea, HexRoundTrip) {
  std::string bytes("\x00\x01\xfe\xff", 4);
  EXPECT_EQ(pgBytea(bytes), "\\x0001feff");
  EXPECT_EQ(parsePgBytea("\\x0001FEff"), bytes);
  EXPECT_EQ(parsePgBytea("\\x0"), "");
  EXPECT_EQ(parsePgBytea("\\xzz"), "");
  EXPECT_EQ(parsePgBytea("0001"), "");
}

TEST(PageToken, RoundTripAndRefusals) {
  std::string token = encodePageToken("findings", "12345");
  EXPECT_EQ(token.find("12345"), std::string::npos);  // opaque, not the id in clear
  EXPECT_EQ(*decodeIdPageToken("findings", token), 12345);
  EXPECT_FALSE(decodeIdPageToken("assets", token).ok());
  EXPECT_FALSE(decodeIdPageToken("findings", "garbage!").ok());
  EXPECT_FALSE(decodeIdPageToken("findings", encodePageToken("findings", "12a")).ok());
  EXPECT_FALSE(decodeIdPageToken("findings", encodePageToken("findings", "-1")).ok());
  EXPECT_FALSE(decodeIdPageToken("findings", encodePageToken("findings", "1 OR 1=1")).ok());
  EXPECT_EQ(*decodePageToken("certificates", encodePageToken("certificates", "ab|cd")), "ab|cd");
  // A well-formed token far larger than any we issue is refused before it is decoded.
  EXPECT_FALSE(decodePageToken("findings", encodePageToken("findings", std::string(4096, '7'))).ok());
}

TEST(PageToken, TypedKeysRefuseForgedValuesBeforeTheyReachSql) {
  auto key = decodeAddressIdPageToken("findings-by-address",
                                      encodeAddressIdPageToken("findings-by-address", "2001:db8::7", "42"));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->address, "2001:db8::7");
  EXPECT_EQ(key->id, 42);
  EXPECT_EQ(decodeAddressIdPageToken("findings-by-address",
                                     encodeAddressIdPageToken("findings-by-address", "10.1.2.3", "9"))
                ->address,
            "10.1.2.3");
  // Forged keys a client could build by hand: each would otherwise be a cast error in SQL.
  for (const char* forged : {"not-an-address|5", "10.0.0.1/24|5", "10.0.0.1|0", "10.0.0.1|x",
                             "10.0.0.1", "|5", "'; DROP TABLE findings; --|5"}) {
    auto r = decodeAddressIdPageToken("findings-by-address",
                                      encodePageToken("findings-by-address", forged));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << forged;
  }
  std::string sha(64, 'a');
  EXPECT_EQ(*decodeSha256PageToken("certificates", encodePageToken("certificates", sha)), sha);
  for (std::string forged : {std::string(63, 'a'), std::string(64, 'g'), std::string(64, 'A'),
                             std::string("zz")}) {
    EXPECT_FALSE(decodeSha256PageToken("certificates", encodePageToken("certificates", forged)).ok())
        << forged;
  }
}

TEST(ServiceName, BracketsIpv6AndParsesBack) {
  EXPECT_EQ(serviceName("10.0.0.1", 443), "10.0.0.1:443");
  EXPECT_EQ(serviceName("2001:db8::1", 5061), "[2001:db8::1]:5061");
  std::string ip;
  uint32_t port = 0;
  ASSERT_TRUE(parseServiceName("[2001:db8::1]:5061", ip, port));
  EXPECT_EQ(ip, "2001:db8::1");
  EXPECT_EQ(port, 5061u);
  EXPECT_FALSE(parseServiceName("10.0.0.1", ip, port));
  EXPECT_FALSE(parseServiceName("10.0.0.1:99999", ip, port));
  EXPECT_FALSE(parseServiceName(":443", ip, port));
}

TEST(SqlState, MapsToRetryableAndPermanentCodes) {
  EXPECT_EQ(statusCodeForSqlState("08006"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(statusCodeForSqlState("57P01"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(statusCodeForSqlState("40P01"), absl::StatusCode::kAborted);
  EXPECT_EQ(statusCodeForSqlState("40001"), absl::StatusCode::kAborted);
  EXPECT_EQ(statusCodeForSqlState("57014"), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(statusCodeForSqlState("22P02"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(statusCodeForSqlState("23505"), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(statusCodeForSqlState("42P01"), absl::StatusCode::kInternal);
  EXPECT_EQ(statusCodeForSqlState(""), absl::StatusCode::kInternal);
}

TEST(ParseMigrations, EmbeddedFilesAreNumberedFromOne) {
  auto m = parseMigrations(embeddedMigrationFiles());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_FALSE(m->empty());
  for (size_t i = 0; i < m->size(); ++i) EXPECT_EQ((*m)[i].version, static_cast<int>(i + 1));
  EXPECT_EQ((*m)[0].name, "initial");
  EXPECT_THAT((*m)[0].sql, HasSubstr("CREATE TABLE findings"));
}

TEST(ParseMigrations, RefusesBadNamesGapsAndDuplicates) {
  auto message = [](std::vector<MigrationFile> files) {
    auto m = parseMigrations(files);
    return m.ok() ? std::string("ok") : std::string(m.status().message());
  };
  EXPECT_EQ(message({{"0002_b.sql", ""}, {"0001_a.sql", ""}}), "ok");  // order of files
  EXPECT_THAT(message({{"1_a.sql", ""}}), HasSubstr("expected NNNN_name.sql"));
  EXPECT_THAT(message({{"0001_a.txt", ""}}), HasSubstr("expected NNNN_name.sql"));
  EXPECT_THAT(message({{"0001_.sql", ""}}), HasSubstr("expected NNNN_name.sql"));
  EXPECT_THAT(message({{"0001_a.sql", ""}, {"0003_c.sql", ""}}), HasSubstr("2 is missing"));
  EXPECT_THAT(message({{"0001_a.sql", ""}, {"0001_b.sql", ""}}), HasSubstr("used twice"));
}

}  // namespace
}  // namespace tlsaudit::storage
