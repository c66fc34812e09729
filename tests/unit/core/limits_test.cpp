// The shared validation helper (core/field_errors) and the limits it applies.
#include "core/limits.hpp"
#include "core/conference_doc.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <string>

namespace json = boost::json;
using confab::Errc;
using confab::Error;
namespace core = confab::core;
namespace limits = confab::core::limits;

namespace {

json::object errors_of(const json::value& doc) {
  try {
    core::validate_conference(doc);
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::invalid_data);
    return e.details;
  }
  ADD_FAILURE() << "expected a validation error";
  return {};
}

json::array items(std::size_t n, const char* prefix = "") {
  json::array a;
  a.reserve(n);
  for (std::size_t i = 0; i < n; ++i) a.emplace_back(prefix + std::to_string(i));
  return a;
}

template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an error";
  return Error(Errc::not_found, "none");
}

}  // namespace

TEST(Utf8, AnyScriptIsValid) {
  for (const char* s :
       {"", "plain", "Zo\xc3\xab", "\xe4\xbc\x9a\xe8\xae\xae",
        "\xd9\x85\xd8\xa4\xd8\xaa\xd9\x85\xd8\xb1", "\xf0\x9f\x8e\x89", "\xf4\x8f\xbf\xbf"})
    EXPECT_TRUE(core::valid_utf8(s)) << s;
}

TEST(Utf8, BrokenSequencesAreNot) {
  for (const char* s : {"\xff", "caf\xe9", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xe4\xbc",
                        "\xf4\x90\x80\x80", "\x80", "\xf8\x88\x80\x80\x80"})
    EXPECT_FALSE(core::valid_utf8(s)) << s;
}

TEST(Text, ControlCharactersAreRefusedInLinesAndMostlyInText) {
  using core::TextKind;
  for (std::string bad : {std::string("a\0b", 3), std::string("a\x01"), std::string("\x1f"),
                          std::string("a\x7f"), std::string("a\nb"), std::string("a\tb")}) {
    auto v = core::text_violation(bad, 0, 100, TextKind::line);
    ASSERT_TRUE(v) << bad;
    EXPECT_EQ(v->rule, "pattern");
  }
  EXPECT_FALSE(core::text_violation("two\nlines\tand\r\n", 0, 100, TextKind::text));
  EXPECT_TRUE(core::text_violation(std::string("nul\0", 4), 0, 100, TextKind::text));
  EXPECT_TRUE(core::text_violation("del\x7f", 0, 100, TextKind::text));
  EXPECT_EQ(core::text_violation("caf\xe9", 0, 100)->rule, "encoding");
  EXPECT_FALSE(core::text_violation("Zo\xc3\xab \xe4\xbc\x9a", 1, 100));
}

TEST(Text, LengthsAreBytesAndNamedWithTheirLimit) {
  auto v = core::text_violation(std::string(129, 'x'), 1, 128);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rule, "maxLength");
  EXPECT_EQ(v->message, "String must not be more than 128 characters");
  EXPECT_EQ(v->limit, 128);
  EXPECT_EQ(core::text_violation("", 1, 128)->rule, "minLength");
  // A long string is refused for its length before a byte of it is looked at.
  EXPECT_EQ(core::text_violation(std::string(200, '\0'), 0, 10)->rule, "maxLength");
}

TEST(Int, OnlyIntegersInRange) {
  EXPECT_FALSE(core::int_violation(json::value(5), 1, 200));
  EXPECT_FALSE(core::int_violation(json::value(std::uint64_t{7}), 1, 200));
  EXPECT_EQ(core::int_violation(json::value(0), 1, 200)->rule, "minimum");
  EXPECT_EQ(core::int_violation(json::value(100000), 1, 200)->rule, "maximum");
  EXPECT_EQ(core::int_violation(json::value(100000), 1, 200)->limit, 200);
  EXPECT_EQ(core::int_violation(json::value(UINT64_MAX), 1, 200)->rule, "maximum");
  for (auto v : {json::value(1.5), json::value(2.0), json::value(true), json::value("5"),
                 json::value(nullptr), json::value(json::array{1})})
    EXPECT_EQ(core::int_violation(v, 1, 200)->rule, "type") << json::serialize(v);
}

TEST(Param, IntegersNameTheFieldAndTheRange) {
  json::value big(100000);
  auto e = error_of([&] { core::require_int("limit", &big, 1, 200, 50); });
  EXPECT_EQ(e.code, Errc::invalid_data);
  EXPECT_EQ(e.message, "limit must be an integer in 1..200");
  EXPECT_EQ(e.details.at("limit").at("maximum").at("value"), 200);
  for (auto v : {json::value("abc"), json::value("1e3"), json::value("1.5"), json::value(1.5),
                 json::value(false), json::value("-"), json::value("0x10")}) {
    auto bad = error_of([&] { core::require_int("limit", &v, 1, 200, 50); });
    EXPECT_EQ(bad.message, "limit must be an integer in 1..200") << json::serialize(v);
  }
  json::value text("150"), neg("-3"), empty(""), null(nullptr);
  EXPECT_EQ(core::require_int("limit", &text, 1, 200, 50), 150);
  EXPECT_EQ(core::require_int("before", &neg, -5, 5, 0), -3);
  EXPECT_EQ(core::require_int("limit", &empty, 1, 200, 50), 50);
  EXPECT_EQ(core::require_int("limit", &null, 1, 200, 50), 50);
  EXPECT_EQ(core::require_int("limit", nullptr, 1, 200, 50), 50);
}

TEST(Param, TextNamesTheFieldAndTheLimit) {
  auto e = error_of([] { core::require_text("guest_name", std::string(257, 'g'), 0, 256); });
  EXPECT_EQ(e.message, "guest_name must be at most 256 bytes");
  EXPECT_EQ(e.details.at("guest_name").at("maxLength").at("value"), 256);
  e = error_of([] { core::require_text("guest_name", std::string("a\0b", 3), 0, 256); });
  EXPECT_EQ(e.message, "guest_name must not contain control characters");
  e = error_of([] { core::require_text("guest_name", "caf\xe9", 0, 256); });
  EXPECT_EQ(e.message, "guest_name must be valid UTF-8");
  EXPECT_EQ(core::describe(e), "guest_name: String must be valid UTF-8");
}

TEST(Param, TreesAreBoundedInShapeAndSize) {
  json::object ok{{"type", "meeting"}, {"nested", json::object{{"a", json::array{1, 2}}}}};
  EXPECT_NO_THROW(core::require_tree("metadata", ok, 8192));
  json::object fat{{"blob", std::string(5000, 'x')}};
  auto e = error_of([&] { core::require_tree("metadata", fat, 8192); });
  EXPECT_TRUE(e.details.contains("metadata.blob"));
  EXPECT_EQ(e.message, "metadata.blob: String must not be more than 4096 characters");
  json::object wide;
  for (int i = 0; i < 3; ++i) wide["k" + std::to_string(i)] = std::string(4000, 'x');
  e = error_of([&] { core::require_tree("metadata", wide, 8192); });
  EXPECT_EQ(e.message, "metadata must be at most 8192 bytes as JSON");
}

TEST(Tree, NestingListsKeysAndStringsAreBounded) {
  core::Report r;
  json::value deep = 1;
  for (int i = 0; i < 12; ++i) deep = json::object{{"d", deep}};
  json::object doc{{"deep", deep},
                   {"list", items(101)},
                   {"text", std::string(4097, 't')},
                   {"fine", json::array{"a\nb", 1, true, nullptr}}};
  json::object many;
  for (std::size_t i = 0; i <= limits::kObjectKeys; ++i) many["k" + std::to_string(i)] = 1;
  doc["many"] = many;
  doc["keys"] = json::object{{std::string("a\0", 2), 1}};
  core::check_tree(r, doc, "");
  try {
    r.throw_if_any();
    FAIL() << "expected errors";
  } catch (const Error& e) {
    auto& d = e.details;
    EXPECT_TRUE(d.at("deep").as_object().contains("maxDepth"));
    EXPECT_TRUE(d.at("list").as_object().contains("maxItems"));
    EXPECT_TRUE(d.at("text").as_object().contains("maxLength"));
    EXPECT_TRUE(d.at("many").as_object().contains("maxProperties"));
    EXPECT_TRUE(d.at("keys").as_object().contains("propertyNames"));
    EXPECT_FALSE(d.contains("fine"));
  }
}

TEST(Report, AThousandBadItemsGiveABoundedReport) {
  core::Report r;
  for (int i = 0; i < 1000; ++i) r.fail("f" + std::to_string(i), "type", "bad");
  try {
    r.throw_if_any();
  } catch (const Error& e) {
    EXPECT_EQ(e.details.size(), core::Report::kMaxFields);
  }
}

// Defect: 50,000 PINs were checked pairwise (12.9 s) and stored.
TEST(ConferenceLimits, FiftyThousandPinsOrNumbersAreOneErrorNamingTheMaximum) {
  for (auto [role, key] : {std::pair{"member", "pins"}, std::pair{"moderator", "pins"},
                           std::pair{"member", "numbers"}, std::pair{"", "conference_numbers"}}) {
    json::object doc{{"name", "x"}};
    std::string path;
    if (*role) {
      doc[role] = json::object{{key, items(50'000)}};
      path = std::string(role) + "." + key;
    } else {
      doc[key] = items(50'000);
      path = key;
    }
    auto e = errors_of(doc);
    ASSERT_EQ(e.size(), 1u) << json::serialize(e).substr(0, 300);
    auto& rule = e.at(path).at("maxItems");
    EXPECT_EQ(rule.at("value"), 100);
    EXPECT_EQ(rule.at("message"), "The array must not have more than 100 items");
  }
}

TEST(ConferenceLimits, AHundredIsTakenAndDuplicatesAreFoundInOnePass) {
  json::object doc{{"name", "x"},
                   {"member", json::object{{"pins", items(100, "1")}}},
                   {"conference_numbers", items(100, "2")}};
  EXPECT_NO_THROW(core::validate_conference(doc));
  auto pins = items(99, "1");
  pins.push_back("150");
  doc["member"] = json::object{{"pins", pins}};
  EXPECT_TRUE(errors_of(doc).at("member.pins").as_object().contains("uniqueItems"));
}

TEST(ConferenceLimits, StringsAndNumbersHaveTheirOwnLimits) {
  auto e = errors_of(json::object{{"name", std::string("a\0b", 3)},
                                  {"profile", std::string(300, 'p')},
                                  {"conference_numbers", json::array{std::string(33, '1')}},
                                  {"max_participants", 10'001},
                                  {"muc", json::object{{"subject", "s\x07"}}},
                                  {"ui", json::object{{"note", std::string(5000, 'n')}}}});
  EXPECT_TRUE(e.at("name").as_object().contains("pattern"));
  EXPECT_EQ(e.at("profile").at("maxLength").at("value"), 256);  // its own, not the general 4096
  EXPECT_EQ(e.at("conference_numbers.0").at("maxLength").at("value"), 32);
  EXPECT_EQ(e.at("max_participants").at("maximum").at("value"), 10'000);
  EXPECT_TRUE(e.at("muc.subject").as_object().contains("pattern"));
  EXPECT_EQ(e.at("ui.note").at("maxLength").at("value"), 4096);
}

TEST(ConferenceLimits, AnyScriptIsAName) {
  for (const char* name : {"Zo\xc3\xab", "\xe4\xbc\x9a\xe8\xae\xae",
                           "\xd9\x85\xd8\xa4\xd8\xaa\xd9\x85\xd8\xb1", "party \xf0\x9f\x8e\x89"})
    EXPECT_EQ(core::validate_conference(json::object{{"name", name}}).at("name"), name);
}

TEST(StoredSize, ADocumentIsBoundedAsAWhole) {
  json::object doc;
  for (int i = 0; i < 20; ++i) doc["k" + std::to_string(i)] = std::string(4000, 'n');
  core::Report r;
  core::check_stored_size(r, doc);
  try {
    r.throw_if_any();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.details.at("data").at("maxLength").at("value"), 65536);
  }
}

TEST(Utf8, APrefixNeverCutsASequence) {
  EXPECT_EQ(core::utf8_prefix("abc", 8), "abc");
  EXPECT_EQ(core::utf8_prefix("Zo\xc3\xab", 3), "Zo");          // é would be cut: dropped
  EXPECT_EQ(core::utf8_prefix("Zo\xc3\xab", 4), "Zo\xc3\xab");  // whole: kept
  EXPECT_EQ(core::utf8_prefix("\xf0\x9f\x8e\x89!", 3), "");
  EXPECT_EQ(core::utf8_prefix("\xf0\x9f\x8e\x89!", 4), "\xf0\x9f\x8e\x89");
}

// Kazoo clients post back what they read: the read-only part, however long, is dropped unread.
TEST(ConferenceLimits, ReadOnlyKeysAreDroppedNotChecked) {
  json::object doc{{"name", "x"},
                   {"_read_only", json::object{{"participants", items(500)}}},
                   {"pvt_x", std::string(10'000, 'p')},
                   {"id", std::string(300, 'i')}};
  auto out = core::validate_conference(doc);
  EXPECT_FALSE(out.contains("_read_only"));
  EXPECT_FALSE(out.contains("pvt_x"));
  EXPECT_FALSE(out.contains("id"));
}
