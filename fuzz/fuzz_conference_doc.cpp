// Conference documents from clients: JSON parse, schema validation, PATCH merge.
#include "core/conference_doc.hpp"
#include "core/error.hpp"

#include <boost/json.hpp>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  auto v = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec) return 0;
  try {
    auto doc = confab::core::validate_conference(v);
    confab::core::conference_numbers(doc);
    if (v.is_object())
      confab::core::validate_conference(confab::core::merge_patch(doc, v.as_object()));
  } catch (const confab::Error&) {
  }
  return 0;
}
