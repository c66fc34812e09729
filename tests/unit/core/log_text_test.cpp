#include "core/log_text.hpp"

#include <gtest/gtest.h>

using confab::core::log_text;

TEST(LogText, PlainTextAndUtf8PassUnchanged) {
  EXPECT_EQ(log_text("+33 1 23 45 67 89"), "+33 1 23 45 67 89");
  EXPECT_EQ(log_text("Zoë 北京"), "Zoë 北京");
}

TEST(LogText, ControlCharactersDelAndBackslashAreEscaped) {
  EXPECT_EQ(log_text("1\n2\r3"), "1\\x0a2\\x0d3");
  EXPECT_EQ(log_text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(log_text("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
  // An escaped backslash cannot be mistaken for an escape the server wrote.
  EXPECT_EQ(log_text("\\x0a"), "\\x5cx0a");
}

TEST(LogText, LongTextIsCutAndItsSizeNamed) {
  std::string big(5000, '7');
  auto out = log_text(big);
  EXPECT_EQ(out, std::string(64, '7') + "...(5000 bytes)");
  EXPECT_EQ(log_text(std::string(64, '1')), std::string(64, '1'));
  EXPECT_EQ(log_text("123456", 3), "123...(6 bytes)");
}
