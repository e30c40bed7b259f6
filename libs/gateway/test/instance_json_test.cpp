// The instance JSON written directly (GET /me, GET /instances) against the same object built as an
// nlohmann tree (the form it had before): equal after parsing for hostile names and every hook set or not,
// and byte-equal to the tree's own dump (same key order, same escapes).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "wa/gateway/api.hpp"

namespace wa::gateway {
namespace {
using json = nlohmann::json;
using service::Hook;

json reference(const service::InstanceView& v) {
  const auto& h = v.hooks;
  auto url = [](const std::string& s) -> json { return s.empty() ? json(nullptr) : json(s); };
  return json{{"id", v.id},
              {"token", v.token},
              {"name", v.name},
              {"due", nullptr},
              {"connected", v.connected},
              {"paymentStatus", "ACTIVE"},
              {"created", v.created_ms},
              {"connectedCallbackUrl", url(h[static_cast<std::size_t>(Hook::connected)])},
              {"deliveryCallbackUrl", url(h[static_cast<std::size_t>(Hook::delivery)])},
              {"disconnectedCallbackUrl", url(h[static_cast<std::size_t>(Hook::disconnected)])},
              {"messageStatusCallbackUrl", url(h[static_cast<std::size_t>(Hook::message_status)])},
              {"presenceChatCallbackUrl", url(h[static_cast<std::size_t>(Hook::presence)])},
              {"receivedCallbackUrl", url(h[static_cast<std::size_t>(Hook::received)])},
              {"receiveCallbackSentByMe", v.notify_sent_by_me},
              {"callRejectAuto", false},
              {"callRejectMessage", nullptr},
              {"autoReadMessage", false},
              {"initialDataCallbackUrl", nullptr}};
}

TEST(InstanceJson, MatchesTheTreeForm) {
  static constexpr char kControls[] = "nul \0 bell \x07 esc \x1b del \x7f";  // with a NUL inside
  const std::vector<std::string> names = {"", "my number", "quote \" back \\ slash", "tab\tnew\nline\r",
                                          std::string(kControls, sizeof kControls - 1), "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                          "</script>"};
  int n = 0;
  for (const auto& name : names) {
    for (int mask = 0; mask < (1 << service::kHookCount); mask += 7) {
      service::InstanceView v;
      v.id = "0123456789abcdef0123456789abcdef";
      v.token = "tok\"en";
      v.name = name;
      v.created_ms = 1700000000000 + n;
      v.connected = (n % 2) == 0;
      v.notify_sent_by_me = (n % 3) == 0;
      for (std::size_t k = 0; k < service::kHookCount; ++k) {
        if ((mask >> k) & 1) v.hooks[k] = "https://hooks.example/" + std::to_string(k) + "?a=\"b\"";
      }
      std::string text;
      append_instance_json(text, v);
      const json want = reference(v);
      ASSERT_EQ(json::parse(text), want) << text;
      EXPECT_EQ(text, want.dump()) << "key order or escaping differs";
      ++n;
    }
  }
}

}  // namespace
}  // namespace wa::gateway
