// SPDX-License-Identifier: MIT
// Routes of the Z-API contract (spec/zapi-api.md §0-§4, §14) and zapd's extensions; docs/api.md lists them
// with their answers and errors.
#include "wa/gateway/api.hpp"

#include "wa/core/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/qr/qr.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

namespace wa::gateway {

using nlohmann::json;
using service::Hook;
using service::Send;

namespace {

HttpResponse json_ok(const json& j, int status = 200) { return HttpResponse{status, j.dump(), {}, {}}; }

// A request that failed validation: the status and the error body to answer with.
struct Bad {
  int status;
  std::string code, message;
};
HttpResponse to_response(const Bad& b) { return error_response(b.status, b.code, b.message); }

HttpResponse from_error(const Error& e) {
  using service::errc;
  if (e.code().category() == service::category()) {
    switch (static_cast<errc>(e.code().value())) {
      case errc::not_found: return error_response(404, "NOT_FOUND", e.context() + " not found");
      case errc::invalid_argument: return error_response(400, "INVALID_FIELD", e.context());
      case errc::queue_full: return error_response(429, "QUEUE_FULL", e.context());
      case errc::already_connected: return error_response(409, "ALREADY_CONNECTED", "You are already connected.");
      case errc::not_connected: return error_response(409, "NOT_CONNECTED", e.context());
      case errc::timeout: return error_response(504, "WHATSAPP_TIMEOUT", e.context());
      case errc::storage: return error_response(503, "STORAGE_UNAVAILABLE", "the database failed; nothing was accepted");
      case errc::refused: return error_response(409, "WHATSAPP_REFUSED", "WhatsApp refused: " + e.context());
    }
  }
  return error_response(500, "INTERNAL", "unexpected failure");
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < path.size()) {
    if (path[at] == '/') {
      ++at;
      continue;
    }
    const auto end = path.find('/', at);
    out.push_back(path.substr(at, end - at));
    if (end == std::string_view::npos) break;
    at = end;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    const auto eq = part.find('=');
    if (part.substr(0, eq) == name) return url_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A chat as Z-API names it: digits (country code first, 8-20 of them) or "<digits>@lid".
// A group id as Z-API writes it: "120363019502650977-group" (or the legacy "<creator>-<unix time>-group").
bool is_group_id(std::string_view p) {
  if (!p.ends_with("-group")) return false;
  p.remove_suffix(6);
  const auto dash = p.find('-');
  const std::string_view a = p.substr(0, dash);
  const std::string_view b = dash == std::string_view::npos ? std::string_view{} : p.substr(dash + 1);
  return a.size() >= 6 && a.size() <= 40 && all_digits(a) && (dash == std::string_view::npos || (!b.empty() && b.size() <= 20 && all_digits(b)));
}

std::optional<Bad> check_phone(const std::string& p, std::string_view field = "phone", bool allow_group = false) {
  const std::string f(field);
  if (allow_group && is_group_id(p)) return std::nullopt;
  if (p.ends_with("-group") || p.ends_with("@g.us")) {
    return Bad{400, allow_group ? "INVALID_PHONE" : "INVALID_FIELD",
               allow_group ? "a group id looks like 120363019502650977-group" : "'" + f + "' must be a person's number, not a group"};
  }
  if (p.ends_with("@newsletter") || p.ends_with("-broadcast")) return Bad{400, "UNSUPPORTED_CHAT", "this kind of chat is not supported"};
  std::string_view digits = p;
  if (digits.ends_with("@lid")) digits.remove_suffix(4);
  if (!all_digits(digits) || digits.size() < 8 || digits.size() > 20) {
    return Bad{400, "INVALID_PHONE", "'" + f + "' must be the number's digits with country code (e.g. 5511999999999) or <digits>@lid"};
  }
  return std::nullopt;
}

// Reads the JSON body of a POST/PUT: an object, or a Bad.
std::optional<Bad> parse_body(const HttpRequest& req, json& out) {
  if (req.content_type.find("application/json") == std::string::npos) {
    return Bad{415, "UNSUPPORTED_MEDIA_TYPE", "send the body as JSON with Content-Type: application/json"};
  }
  out = json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
  if (out.is_discarded()) return Bad{400, "INVALID_JSON", "the body is not valid JSON"};
  if (!out.is_object()) return Bad{400, "INVALID_JSON", "the body must be a JSON object"};
  return std::nullopt;
}

// Field readers: each returns a Bad when the field is present with a wrong type (or missing when required).
struct Fields {
  const json& j;
  std::optional<Bad> bad;

  std::string str(const char* name, bool required, std::size_t max = 65536) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
      if (required && !bad) bad = Bad{400, "MISSING_FIELD", std::string("'") + name + "' is required"};
      return {};
    }
    if (!it->is_string()) {
      if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be a string"};
      return {};
    }
    std::string v = it->get<std::string>();
    if (required && v.empty() && !bad) bad = Bad{400, "MISSING_FIELD", std::string("'") + name + "' must not be empty"};
    if (v.size() > max && !bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' is too long"};
    return v;
  }
  // A number, also accepted as a numeric string (Z-API's samples send both).
  std::optional<double> num(const char* name, bool required) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
      if (required && !bad) bad = Bad{400, "MISSING_FIELD", std::string("'") + name + "' is required"};
      return std::nullopt;
    }
    double v = 0;
    if (it->is_number()) {
      v = it->get<double>();
    } else if (it->is_string()) {
      const std::string s = it->get<std::string>();
      char* end = nullptr;
      v = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size()) {
        if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be a number"};
        return std::nullopt;
      }
    } else {
      if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be a number"};
      return std::nullopt;
    }
    if (!std::isfinite(v)) {
      if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be a finite number"};
      return std::nullopt;
    }
    return v;
  }
  int seconds(const char* name, int lo, int hi, int absent) {
    auto v = num(name, false);
    if (!v) return absent;
    if (*v < lo || *v > hi || std::floor(*v) != *v) {
      if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be a whole number of seconds from " +
                                                    std::to_string(lo) + " to " + std::to_string(hi)};
      return absent;
    }
    return static_cast<int>(*v);
  }
  std::optional<bool> boolean(const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) {
      if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be true or false"};
      return std::nullopt;
    }
    return it->get<bool>();
  }
  // The chat a send goes to: a number, <digits>@lid or a group id.
  std::string chat(const char* name = "phone") {
    std::string v = str(name, true, 64);
    if (!bad) {
      if (auto b = check_phone(v, name, true)) bad = b;
    }
    return v;
  }
  std::vector<std::string> phones(const char* name) {
    std::vector<std::string> out;
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_array() || it->size() > 1024) {
      if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be an array of phone numbers"};
      return out;
    }
    for (const auto& e : *it) {
      if (!e.is_string()) {
        if (!bad) bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be an array of phone numbers"};
        return {};
      }
      std::string p = e.get<std::string>();
      if (auto b = check_phone(p, name); b && !bad) bad = b;
      out.push_back(std::move(p));
    }
    return out;
  }
};

json queue_item_json(const service::QueuedItem& q, const std::string& instance) {
  return json{{"_id", q.zaap_id},       {"ZaapId", q.zaap_id},         {"MessageId", q.message_id},
              {"InstanceId", instance}, {"Phone", q.phone},            {"Message", q.message},
              {"Kind", q.kind},         {"DelayMessage", q.delay_message}, {"DelayTyping", q.delay_typing},
              {"Created", q.created_ms}, {"Beta", false},             {"IsTrial", false}};
}

struct HookRoute {
  std::string_view route;
  Hook hook;
};
// The documented setters, then the legacy aliases Z-API's samples still use, and a typo its docs carry.
constexpr std::array<HookRoute, 13> kHookRoutes{{{"update-webhook-delivery", Hook::delivery},
                                                {"update-webhook-received", Hook::received},
                                                {"update-webhook-received-delivery", Hook::received},
                                                {"update-webhook-message-status", Hook::message_status},
                                                {"update-webhook-disconnected", Hook::disconnected},
                                                {"update-webhook-connected", Hook::connected},
                                                {"update-webhook-chat-presence", Hook::presence},
                                                {"on-message-send", Hook::delivery},
                                                {"on-message-received", Hook::received},
                                                {"on-whatsapp-disconnected", Hook::disconnected},
                                                {"on-whatsapp-message-status-changes", Hook::message_status},
                                                {"on-chat-presence", Hook::presence},
                                                {"update-webhook-receive", Hook::received}}};

constexpr std::array<std::string_view, 5> kMediaRoutes{"send-image", "send-audio", "send-video", "send-document",
                                                       "send-sticker"};
// Z-API routes zapd does not have yet: 501 with a stable code.
constexpr std::array<std::string_view, 2> kNotYet{"send-gif", "send-ptv"};

// A media source: an http(s) URL or a data: URI.
bool media_source_ok(const std::string& v) {
  if (v.rfind("data:", 0) == 0 || v.rfind("DATA:", 0) == 0) return v.find(',') != std::string::npos;
  return v.rfind("https://", 0) == 0 || v.rfind("http://", 0) == 0;
}

// Applies group settings one after the other (each is one w:g2 iq), then answers {"value": true}.
void apply_group_settings(service::Service& svc, std::string id, std::string group, std::vector<std::string> steps, std::size_t i,
                          Api::Respond respond) {
  if (i >= steps.size()) return respond(json_ok(json{{"value", true}}));
  service::GroupRequest one;
  one.kind = service::GroupRequest::Kind::settings;
  one.group = group;
  one.setting = steps[i];
  svc.group(id, std::move(one), [&svc, id, group, steps, i, respond](Result<service::GroupReply> rep) {
    if (!rep) return respond(from_error(rep.error()));
    apply_group_settings(svc, id, group, steps, i + 1, respond);
  });
}

}  // namespace

namespace {
// A JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped; the values are UTF-8
// already (parsed from JSON bodies or checked when set).
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 15];
      }
    } else {
      out += c;
    }
  }
  out += '"';
}
void append_url(std::string& out, const std::string& s) {
  if (s.empty()) {
    out += "null";
  } else {
    append_json_string(out, s);
  }
}
}  // namespace

void append_instance_json(std::string& out, const service::InstanceView& v) {
  const auto& h = v.hooks;
  auto hook = [&](Hook k) -> const std::string& { return h[static_cast<std::size_t>(k)]; };
  out += R"({"autoReadMessage":false,"callRejectAuto":false,"callRejectMessage":null,"connected":)";
  out += v.connected ? "true" : "false";
  out += R"(,"connectedCallbackUrl":)";
  append_url(out, hook(Hook::connected));
  out += R"(,"created":)";
  out += std::to_string(v.created_ms);
  out += R"(,"deliveryCallbackUrl":)";
  append_url(out, hook(Hook::delivery));
  out += R"(,"disconnectedCallbackUrl":)";
  append_url(out, hook(Hook::disconnected));
  out += R"(,"due":null,"id":)";
  append_json_string(out, v.id);
  out += R"(,"initialDataCallbackUrl":null,"messageStatusCallbackUrl":)";
  append_url(out, hook(Hook::message_status));
  out += R"(,"name":)";
  append_json_string(out, v.name);
  out += R"(,"paymentStatus":"ACTIVE","presenceChatCallbackUrl":)";
  append_url(out, hook(Hook::presence));
  out += R"(,"receiveCallbackSentByMe":)";
  out += v.notify_sent_by_me ? "true" : "false";
  out += R"(,"receivedCallbackUrl":)";
  append_url(out, hook(Hook::received));
  out += R"(,"token":)";
  append_json_string(out, v.token);
  out += '}';
}

bool is_media_send(std::string_view target) {
  target = target.substr(0, target.find('?'));
  const auto seg = split_path(target);
  // /instances/{id}/token/{token}/send-x[/{ext}]
  if (seg.size() < 5 || seg.size() > 6 || seg[0] != "instances" || seg[2] != "token") return false;
  return std::find(kMediaRoutes.begin(), kMediaRoutes.end(), seg[4]) != kMediaRoutes.end() || (seg[4] == "send-link" && seg.size() == 5);
}

HttpResponse error_response(int status, std::string_view code, std::string_view message) {
  return json_ok(json{{"error", code}, {"message", message}}, status);
}

Api::Api(service::Service& svc, ApiConfig cfg) : svc_(svc), cfg_(std::move(cfg)) {}

void Api::handle(const HttpRequest& req, Respond respond) {
  const std::string_view target = req.target;
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
  const auto seg = split_path(path);
  const std::string& m = req.method;
  auto answer = [&](HttpResponse r) { respond(std::move(r)); };
  auto method_not_allowed = [&](std::string allow) {
    HttpResponse r = error_response(405, "METHOD_NOT_ALLOWED", "this route does not accept " + m);
    r.headers.emplace_back("Allow", std::move(allow));
    answer(std::move(r));
  };
  auto not_found = [&] { answer(error_response(404, "NOT_FOUND", "no such route")); };

  if (seg.size() == 1 && seg[0] == "health") {
    if (m != "GET") return method_not_allowed("GET");
    return answer(json_ok(json{{"status", "ok"}, {"version", cfg_.version}}));
  }
  // Received media: /media/{instance}/{name}, unguessable names, no other credential (as Z-API's file URLs).
  if (seg.size() == 3 && seg[0] == "media") {
    if (m != "GET") return method_not_allowed("GET");
    auto file = svc_.media_file(std::string(seg[1]), std::string(seg[2]));
    if (!file) return answer(error_response(404, "NOT_FOUND", "no such file"));
    HttpResponse res{200, {}, {}, std::move(file->path)};
    res.headers.emplace_back("Content-Type", file->mimetype);
    res.headers.emplace_back("Cache-Control", "private, max-age=86400");
    res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return answer(std::move(res));
  }
  if (seg.empty() || seg[0] != "instances") return not_found();

  // ---- partner routes (Authorization: Bearer <admin token>) --------------------------------------------
  const bool partner = seg.size() == 1 || (seg.size() == 3 && seg[1] == "integrator" && seg[2] == "on-demand") ||
                       (seg.size() == 2);
  if (partner) {
    const std::string expected = "Bearer " + cfg_.admin_token;
    if (!crypto::equal(req.authorization, expected)) return answer(error_response(401, "UNAUTHORIZED", "send Authorization: Bearer <admin token>"));
    if (seg.size() == 1) {
      if (m != "GET") return method_not_allowed("GET");
      // Z-API's page (from 1) and pageSize; without pageSize, every instance on one page.
      const auto all = svc_.instances();
      std::size_t page = 1, page_size = all.size();
      for (const auto& [name, dest] : {std::pair{"page", &page}, std::pair{"pageSize", &page_size}}) {
        const auto v = query_param(query, name);
        if (!v) continue;
        const std::size_t n = all_digits(*v) && !v->empty() && v->size() <= 7 ? std::stoul(*v) : 0;
        if (n == 0 || n > 1000000) {
          return answer(error_response(400, "INVALID_FIELD", std::string("query parameter '") + name + "' must be an integer from 1 to 1000000"));
        }
        *dest = n;
      }
      const std::size_t total = all.size();
      const std::size_t pages = page_size == 0 ? 1 : std::max<std::size_t>(1, (total + page_size - 1) / page_size);
      std::string body = R"({"content":[)";
      const std::size_t first = std::min(total, (page - 1) * page_size);
      const std::size_t last = std::min(total, first + page_size);
      for (std::size_t i = first; i < last; ++i) {
        if (i > first) body += ',';
        const std::size_t before = body.size();
        append_instance_json(body, *all[i]);
        // Room for the rest at the first one's size and a quarter: a doubling string held one and a half
        // times the page's size at its last growth (1.2 MB at 1,000 numbers, polled while they reconnect).
        if (i == first) body.reserve(body.size() + (last - first - 1) * ((body.size() - before) * 5 / 4 + 1) + 128);
      }
      body += R"(],"page":)" + std::to_string(page) + R"(,"pageSize":)" + std::to_string(page_size) +
              R"(,"total":)" + std::to_string(total) + R"(,"totalPage":)" + std::to_string(pages) + "}";
      return answer(HttpResponse{200, std::move(body), {}, {}});
    }
    if (seg.size() == 2 && seg[1] == "summary") {
      if (m != "GET") return method_not_allowed("GET");
      const auto c = svc_.counts();
      return answer(json_ok(json{{"total", c.total}, {"paired", c.paired}, {"connected", c.connected}, {"offlineDrained", c.offline_drained}}));
    }
    if (seg.size() == 2) {
      if (m != "DELETE") return method_not_allowed("DELETE");
      auto st = svc_.delete_instance(std::string(seg[1]));
      if (!st) return answer(from_error(st.error()));
      return answer(json_ok(json{{"value", true}}));
    }
    if (m != "POST") return method_not_allowed("POST");
    json body;
    if (auto b = parse_body(req, body)) return answer(to_response(*b));
    Fields f{body, {}};
    std::string name = f.str("name", false, 256);
    std::array<std::string, service::kHookCount> hooks;
    hooks[static_cast<std::size_t>(Hook::delivery)] = f.str("deliveryCallbackUrl", false, 2048);
    hooks[static_cast<std::size_t>(Hook::received)] = f.str("receivedCallbackUrl", false, 2048);
    hooks[static_cast<std::size_t>(Hook::disconnected)] = f.str("disconnectedCallbackUrl", false, 2048);
    hooks[static_cast<std::size_t>(Hook::connected)] = f.str("connectedCallbackUrl", false, 2048);
    hooks[static_cast<std::size_t>(Hook::message_status)] = f.str("messageStatusCallbackUrl", false, 2048);
    hooks[static_cast<std::size_t>(Hook::presence)] = f.str("presenceChatCallbackUrl", false, 2048);
    if (f.bad) return answer(to_response(*f.bad));
    auto v = svc_.create_instance(std::move(name), hooks);
    if (!v) return answer(from_error(v.error()));
    return answer(json_ok(json{{"id", v->id}, {"token", v->token}, {"due", nullptr}}));
  }

  // ---- instance routes: /instances/{id}/token/{token}/... -----------------------------------------------
  if (seg.size() < 4 || seg[2] != "token") return not_found();
  if (!cfg_.client_token.empty()) {
    if (!req.has_client_token) return answer(error_response(401, "CLIENT_TOKEN_REQUIRED", "null not allowed"));
    if (!crypto::equal(req.client_token, cfg_.client_token)) return answer(error_response(401, "CLIENT_TOKEN_INVALID", "Client-Token not allowed"));
  }
  auto inst = svc_.authenticate(seg[1], seg[3]);
  if (!inst) return answer(error_response(401, "UNAUTHORIZED", "unknown instance or wrong token"));
  const std::string id = inst->id;
  const std::vector<std::string_view> r(seg.begin() + 4, seg.end());
  const std::string_view route = r.empty() ? std::string_view{} : r[0];
  const bool writes = m == "POST" || m == "PUT";
  auto value_true = [&] { answer(json_ok(json{{"value", true}})); };

  auto pairing_done = [respond](bool image) {
    return [respond, image](Result<service::Service::Pairing> p) {
      if (!p) return respond(from_error(p.error()));
      if (p->connected) return respond(json_ok(json{{"connected", true}, {"value", nullptr}}));
      if (!image) return respond(json_ok(json{{"connected", false}, {"value", p->value}}));
      auto png = qr::render_png(p->value);
      if (!png) return respond(error_response(500, "INTERNAL", "QR rendering failed"));
      respond(json_ok(json{{"connected", false}, {"value", "data:image/png;base64," + to_base64(*png)}}));
    };
  };

  // Instance state.
  if (r.size() == 1 && route == "qr-code") {
    if (m != "GET") return method_not_allowed("GET");
    return svc_.qr(id, pairing_done(false));
  }
  if (r.size() == 2 && route == "qr-code" && r[1] == "image") {
    if (m != "GET") return method_not_allowed("GET");
    return svc_.qr(id, pairing_done(true));
  }
  if (r.size() == 2 && route == "phone-code") {
    if (m != "GET") return method_not_allowed("GET");
    const std::string phone(r[1]);
    if (!all_digits(phone) || phone.size() < 8 || phone.size() > 20) {
      return answer(error_response(400, "INVALID_PHONE", "the phone must be digits with country code"));
    }
    return svc_.phone_code(id, phone, [respond](Result<service::Service::Pairing> p) {
      if (!p) return respond(from_error(p.error()));
      if (p->connected) return respond(json_ok(json{{"connected", true}, {"value", nullptr}}));
      respond(json_ok(json{{"connected", false}, {"value", p->value}}));
    });
  }
  if (r.size() == 1 && (route == "status" || route == "me" || route == "device" || route == "restart" ||
                        route == "disconnect" || route == "restore-session")) {
    if (m != "GET") return method_not_allowed("GET");
    if (route == "status") {
      const char* err = inst->connected ? "You are already connected."
                                        : (inst->paired ? "You need to restore the session." : "You are not connected.");
      return answer(json_ok(json{{"connected", inst->connected}, {"smartphoneConnected", inst->connected}, {"session", inst->paired},
                                 {"error", err}}));
    }
    if (route == "me") {
      std::string body;
      append_instance_json(body, *inst);
      return answer(HttpResponse{200, std::move(body), {}, {}});
    }
    if (route == "device") {
      if (!inst->paired) return answer(error_response(409, "NOT_CONNECTED", "You are not connected."));
      return answer(json_ok(json{{"phone", inst->phone}, {"imgUrl", nullptr}, {"about", nullptr}, {"name", inst->push_name},
                                 {"device", json{{"sessionName", "zapd"}, {"device_model", "zapd"}}},
                                 {"originalDevice", inst->platform}, {"sessionId", 0}, {"isBusiness", false}}));
    }
    Status st = route == "disconnect" ? svc_.disconnect(id) : svc_.restart(id);
    if (!st) return answer(from_error(st.error()));
    return value_true();
  }

  // Sends.
  auto enqueue = [&](Send s, int status = 200) {
    svc_.send(id, std::move(s), [respond, status](Result<service::SendIds> ids) {
      if (!ids) return respond(from_error(ids.error()));
      if (status == 204) return respond(HttpResponse{204, {}, {}, {}});
      respond(json_ok(json{{"zaapId", ids->zaap_id}, {"messageId", ids->message_id}, {"id", ids->message_id}}));
    });
  };
  if (r.size() == 1 && (route == "send-text" || route == "send-location" || route == "send-contact" ||
                        route == "send-reaction" || route == "send-remove-reaction" || route == "send-link")) {
    if (m != "POST") return method_not_allowed("POST");
    json body;
    if (auto b = parse_body(req, body)) return answer(to_response(*b));
    Fields f{body, {}};
    Send s;
    s.phone = f.chat();
    s.delay_message = f.seconds("delayMessage", 1, 15, -1);
    if (route == "send-text") {
      s.kind = Send::Kind::text;
      s.message = f.str("message", true);
      s.delay_typing = f.seconds("delayTyping", 0, 15, 0);
      s.reply_to = f.str("messageId", false, 128);
      s.edit_id = f.str("editMessageId", false, 128);
      s.mentioned = f.phones("mentioned");
    } else if (route == "send-link") {
      // The preview image is fetched when the message is sent; its thumbnail goes in the preview.
      s.kind = Send::Kind::link;
      s.message = f.str("message", true);
      s.link_url = f.str("linkUrl", true, 2048);
      s.title = f.str("title", true, 1024);
      s.link_description = f.str("linkDescription", true, 4096);
      s.media = f.str("image", true, 8 * 1024 * 1024);
      if (!f.bad && !media_source_ok(s.media)) f.bad = Bad{400, "INVALID_FIELD", "'image' must be an http(s) URL or a data: URI"};
      const std::string link_type = f.str("linkType", false, 16);
      if (!f.bad && !link_type.empty() && link_type != "SMALL" && link_type != "MEDIUM" && link_type != "LARGE") {
        f.bad = Bad{400, "INVALID_FIELD", "'linkType' must be SMALL, MEDIUM or LARGE"};
      }
      s.delay_typing = f.seconds("delayTyping", 0, 15, 0);
      s.reply_to = f.str("messageId", false, 128);
      if (!f.bad && s.message.find(s.link_url) == std::string::npos) {
        f.bad = Bad{400, "INVALID_FIELD", "'message' must contain 'linkUrl'"};
      }
    } else if (route == "send-location") {
      s.kind = Send::Kind::location;
      s.title = f.str("title", true, 1024);
      s.address = f.str("address", true, 1024);
      auto lat = f.num("latitude", true);
      auto lng = f.num("longitude", true);
      if (!f.bad && (*lat < -90 || *lat > 90 || *lng < -180 || *lng > 180)) {
        f.bad = Bad{400, "INVALID_FIELD", "latitude must be within -90..90 and longitude within -180..180"};
      }
      s.latitude = lat.value_or(0);
      s.longitude = lng.value_or(0);
      s.reply_to = f.str("messageId", false, 128);
    } else if (route == "send-contact") {
      s.kind = Send::Kind::contact;
      s.contact_name = f.str("contactName", true, 256);
      s.contact_phone = f.str("contactPhone", true, 64);
      if (!f.bad && !all_digits(s.contact_phone)) f.bad = Bad{400, "INVALID_PHONE", "'contactPhone' must be digits"};
      s.reply_to = f.str("messageId", false, 128);
    } else {
      s.kind = route == "send-reaction" ? Send::Kind::reaction : Send::Kind::remove_reaction;
      if (route == "send-reaction") s.message = f.str("reaction", true, 64);
      s.target_id = f.str("messageId", true, 128);
    }
    if (f.bad) return answer(to_response(*f.bad));
    return enqueue(std::move(s));
  }
  if (r.size() == 1 && route == "messages") {
    if (m != "DELETE") return method_not_allowed("DELETE");
    Send s;
    s.kind = Send::Kind::revoke;
    s.phone = query_param(query, "phone").value_or("");
    s.target_id = query_param(query, "messageId").value_or("");
    const std::string owner = query_param(query, "owner").value_or("true");
    if (s.phone.empty() || s.target_id.empty()) {
      return answer(error_response(400, "MISSING_FIELD", "query parameters 'phone' and 'messageId' are required"));
    }
    if (auto b = check_phone(s.phone, "phone", true)) return answer(to_response(*b));
    if (owner != "true" && owner != "false") return answer(error_response(400, "INVALID_FIELD", "'owner' must be true or false"));
    s.owner = owner == "true";
    return enqueue(std::move(s), 204);
  }
  if (!r.empty() && std::find(kMediaRoutes.begin(), kMediaRoutes.end(), route) != kMediaRoutes.end()) {
    const bool document = route == "send-document";
    if (r.size() != (document ? 2u : 1u)) {
      if (document && r.size() == 1) return answer(error_response(400, "MISSING_FIELD", "send-document needs the file extension: send-document/{extension}"));
      return not_found();
    }
    if (m != "POST") return method_not_allowed("POST");
    json body;
    if (auto b = parse_body(req, body)) return answer(to_response(*b));
    Fields f{body, {}};
    Send s;
    s.phone = f.chat();
    const std::string field_name(route.substr(5));  // image, audio, video, document, sticker
    s.kind = field_name == "image" ? Send::Kind::image : field_name == "audio" ? Send::Kind::audio
           : field_name == "video" ? Send::Kind::video : field_name == "document" ? Send::Kind::document : Send::Kind::sticker;
    s.media = f.str(field_name.c_str(), true, std::size_t{96} << 20);
    if (!f.bad && !media_source_ok(s.media)) {
      f.bad = Bad{400, "INVALID_FIELD", "'" + field_name + "' must be an http(s) URL or a data: URI"};
    }
    s.delay_message = f.seconds("delayMessage", 1, 15, -1);
    s.reply_to = f.str("messageId", false, 128);
    if (s.kind != Send::Kind::audio && s.kind != Send::Kind::sticker) s.message = f.str("caption", false, 65536);
    if (s.kind == Send::Kind::audio) s.delay_typing = f.seconds("delayTyping", 0, 15, 0);
    if (s.kind == Send::Kind::image || s.kind == Send::Kind::video || s.kind == Send::Kind::audio) {
      s.view_once = f.boolean("viewOnce").value_or(false);
    }
    if (document) {
      s.extension = std::string(r[1]);
      s.file_name = f.str("fileName", false, 255);
      const bool ext_ok = !s.extension.empty() && s.extension.size() <= 16 &&
                          std::all_of(s.extension.begin(), s.extension.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
      if (!f.bad && !ext_ok) f.bad = Bad{400, "INVALID_FIELD", "the {extension} must be 1-16 letters or digits, like pdf"};
      if (!f.bad && s.file_name.find_first_of("/\\") != std::string::npos) {
        f.bad = Bad{400, "INVALID_FIELD", "'fileName' must not contain a path"};
      }
    }
    if (f.bad) return answer(to_response(*f.bad));
    return enqueue(std::move(s));
  }
  if (!r.empty() && std::find(kNotYet.begin(), kNotYet.end(), route) != kNotYet.end()) {
    if (m != "POST") return method_not_allowed("POST");
    return answer(error_response(501, "NOT_IMPLEMENTED", std::string(route) + " is not available in this version"));
  }

  // Groups (§7).
  using GK = service::GroupRequest::Kind;
  auto group_id_of = [&](Fields& f, const char* name) {
    std::string g = f.str(name, true, 64);
    if (!f.bad && !is_group_id(g)) f.bad = Bad{400, "INVALID_FIELD", std::string("'") + name + "' must be a group id like 120363019502650977-group"};
    return g;
  };
  auto metadata_json = [](const service::GroupView& v) {
    json parts = json::array();
    for (const auto& p : v.participants) {
      parts.push_back(json{{"phone", p.phone}, {"isAdmin", p.admin}, {"isSuperAdmin", p.super_admin}, {"short", nullptr}, {"name", nullptr}});
    }
    return json{{"phone", v.id}, {"owner", v.owner}, {"subject", v.subject}, {"description", v.description},
                {"creation", v.creation_ms}, {"invitationLink", nullptr}, {"communityId", nullptr},
                {"adminOnlyMessage", v.announce}, {"adminOnlySettings", v.locked}, {"requireAdminApproval", false},
                {"isGroupAnnouncement", false}, {"participants", parts}, {"subjectTime", v.subject_time_ms},
                {"subjectOwner", v.subject_owner}};
  };
  static constexpr std::string_view kInviteBase = "https://chat.whatsapp.com/";
  if (r.size() == 1 && route == "create-group") {
    if (m != "POST") return method_not_allowed("POST");
    json body;
    if (auto b = parse_body(req, body)) return answer(to_response(*b));
    Fields f{body, {}};
    service::GroupRequest g;
    g.kind = GK::create;
    g.text = f.str("groupName", true, 100);
    g.phones = f.phones("phones");
    if (!f.bad && g.phones.empty()) f.bad = Bad{400, "MISSING_FIELD", "'phones' must name at least one participant"};
    if (f.bad) return answer(to_response(*f.bad));
    auto& svc = svc_;
    return svc_.group(id, std::move(g), [respond, &svc, id](Result<service::GroupReply> created) {
      if (!created) return respond(from_error(created.error()));
      service::GroupRequest link;
      link.kind = GK::invite_code;
      link.group = created->view.id;
      const std::string gid = created->view.id;
      svc.group(id, std::move(link), [respond, gid](Result<service::GroupReply> code) {
        respond(json_ok(json{{"phone", gid}, {"invitationLink", code ? json(std::string(kInviteBase) + code->code) : json(nullptr)}}));
      });
    });
  }
  if (r.size() == 1 && (route == "update-group-name" || route == "update-group-description" || route == "add-participant" ||
                        route == "remove-participant" || route == "add-admin" || route == "remove-admin" || route == "leave-group" ||
                        route == "update-group-settings")) {
    if (m != "POST") return method_not_allowed("POST");
    json body;
    if (auto b = parse_body(req, body)) return answer(to_response(*b));
    Fields f{body, {}};
    service::GroupRequest g;
    // update-group-settings names the group "phone" in the docs and "groupId" in the samples: both are read.
    const bool settings = route == "update-group-settings";
    g.group = group_id_of(f, settings && !body.contains("groupId") ? "phone" : "groupId");
    std::vector<std::string> settings_list;
    if (route == "update-group-name") {
      g.kind = GK::subject;
      g.text = f.str("groupName", true, 100);
    } else if (route == "update-group-description") {
      g.kind = GK::description;
      g.text = f.str("groupDescription", false, 2048);
    } else if (route == "leave-group") {
      g.kind = GK::leave;
    } else if (settings) {
      g.kind = GK::settings;
      if (auto v = f.boolean("adminOnlyMessage")) settings_list.push_back(*v ? "announcement" : "not_announcement");
      if (auto v = f.boolean("adminOnlySettings")) settings_list.push_back(*v ? "locked" : "unlocked");
      (void)f.boolean("requireAdminApproval");
      (void)f.boolean("adminOnlyAddMember");
      if (!f.bad && settings_list.empty()) f.bad = Bad{400, "MISSING_FIELD", "set adminOnlyMessage and/or adminOnlySettings"};
    } else {
      g.kind = route == "add-participant" ? GK::add : route == "remove-participant" ? GK::remove : route == "add-admin" ? GK::promote : GK::demote;
      g.phones = f.phones("phones");
      if (!f.bad && g.phones.empty()) f.bad = Bad{400, "MISSING_FIELD", "'phones' must name at least one participant"};
    }
    if (f.bad) return answer(to_response(*f.bad));
    if (!settings) {
      return svc_.group(id, std::move(g), [respond](Result<service::GroupReply> rep) {
        if (!rep) return respond(from_error(rep.error()));
        // {"value": true} when every participant was changed; the per-phone outcome rides along (zapd).
        bool all = true;
        json results = json::array();
        for (const auto& [phone, status] : rep->results) {
          all = all && status == "200";
          results.push_back(json{{"phone", phone}, {"status", status}});
        }
        json out{{"value", all}};
        if (!rep->results.empty()) out["participants"] = results;
        respond(json_ok(out));
      });
    }
    // Settings: one change after the other.
    return apply_group_settings(svc_, id, g.group, std::move(settings_list), 0, respond);
  }
  if (r.size() == 2 && (route == "group-metadata" || route == "light-group-metadata" || route == "group-invitation-link" ||
                        route == "redefine-invitation-link")) {
    const bool redefine = route == "redefine-invitation-link";
    if (redefine ? m != "POST" : (m != "GET" && !(route == "group-invitation-link" && m == "POST"))) {
      return method_not_allowed(redefine ? "POST" : route == "group-invitation-link" ? "GET, POST" : "GET");
    }
    const std::string group(r[1]);
    if (!is_group_id(group)) return answer(error_response(400, "INVALID_FIELD", "the group id looks like 120363019502650977-group"));
    if (route == "group-invitation-link" || redefine) {
      service::GroupRequest g;
      g.kind = redefine ? GK::revoke_invite : GK::invite_code;
      g.group = group;
      return svc_.group(id, std::move(g), [respond, group, redefine](Result<service::GroupReply> rep) {
        if (!rep) return respond(from_error(rep.error()));
        json out{{"invitationLink", std::string(kInviteBase) + rep->code}};
        if (!redefine) out["phone"] = group;
        respond(json_ok(out));
      });
    }
    service::GroupRequest g;
    g.kind = GK::info;
    g.group = group;
    const bool light = route == "light-group-metadata";
    auto& svc = svc_;
    return svc_.group(id, std::move(g), [respond, light, metadata_json, &svc, id, group](Result<service::GroupReply> rep) {
      if (!rep) return respond(from_error(rep.error()));
      json out = metadata_json(rep->view);
      if (light) return respond(json_ok(out));
      service::GroupRequest link;
      link.kind = GK::invite_code;
      link.group = group;
      svc.group(id, std::move(link), [respond, out](Result<service::GroupReply> code) mutable {
        if (code) {
          out["invitationLink"] = std::string(kInviteBase) + code->code;
        } else {
          out["invitationLinkError"] = "not-authorized";
        }
        respond(json_ok(out));
      });
    });
  }
  if (r.size() == 1 && route == "accept-invite-group") {
    if (m != "GET") return method_not_allowed("GET");
    std::string url = query_param(query, "url").value_or("");
    const auto slash = url.rfind('/');
    std::string code = slash == std::string::npos ? url : url.substr(slash + 1);
    const bool ok_code = !code.empty() && code.size() <= 64 &&
                         std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
    if (!ok_code) return answer(error_response(400, "INVALID_FIELD", "'url' must be an invite link like https://chat.whatsapp.com/CODE"));
    service::GroupRequest g;
    g.kind = GK::join;
    g.text = code;
    return svc_.group(id, std::move(g), [respond](Result<service::GroupReply> rep) {
      if (!rep && rep.error().code() != service::errc::refused) return respond(from_error(rep.error()));
      respond(json_ok(json{{"success", rep.has_value()}}));
    });
  }

  // Queue.
  if (route == "queue") {
    if (r.size() == 1) {
      if (m == "DELETE") {
        auto st = svc_.queue_clear(id);
        if (!st) return answer(from_error(st.error()));
        return value_true();
      }
      if (m == "GET") {  // deprecated form: every item as an array (pageSize honoured, page ignored)
        std::size_t size = 1000;
        if (auto ps = query_param(query, "pageSize"); ps && all_digits(*ps) && ps->size() < 6) size = std::stoul(*ps);
        auto page = svc_.queue(id, std::max<std::size_t>(size, 1), "");
        if (!page) return answer(from_error(page.error()));
        json arr = json::array();
        for (const auto& q : page->items) arr.push_back(queue_item_json(q, id));
        return answer(json_ok(arr));
      }
      if (m == "POST") {
        json body;
        if (auto b = parse_body(req, body)) return answer(to_response(*b));
        Fields f{body, {}};
        auto size = f.num("pageSize", false);
        const std::string cursor = f.str("pagingState", false, 64);
        if (!f.bad && size && (*size < 1 || *size > 30 || std::floor(*size) != *size)) {
          f.bad = Bad{400, "INVALID_FIELD", "'pageSize' must be a whole number from 1 to 30"};
        }
        if (!f.bad && !cursor.empty() && !all_digits(cursor)) f.bad = Bad{400, "INVALID_FIELD", "'pagingState' is not a cursor of this API"};
        if (f.bad) return answer(to_response(*f.bad));
        auto page = svc_.queue(id, size ? static_cast<std::size_t>(*size) : 20, cursor);
        if (!page) return answer(from_error(page.error()));
        json arr = json::array();
        for (const auto& q : page->items) arr.push_back(queue_item_json(q, id));
        return answer(json_ok(json{{"messages", arr},
                                   {"pagingState", page->next.empty() ? json(nullptr) : json(page->next)},
                                   {"hasMore", !page->next.empty()}}));
      }
      return method_not_allowed("GET, POST, DELETE");
    }
    if (r.size() == 2 && r[1] == "count") {
      if (m != "GET") return method_not_allowed("GET");
      auto n = svc_.queue_count(id);
      if (!n) return answer(from_error(n.error()));
      return answer(json_ok(json{{"count", *n}}));
    }
    if (r.size() == 2) {
      if (m != "DELETE") return method_not_allowed("DELETE");
      auto st = svc_.queue_remove(id, url_decode(r[1]));
      if (!st) return answer(from_error(st.error()));
      return value_true();
    }
  }

  // Webhook configuration (PUT as documented; POST as the samples and legacy clients use).
  if (r.size() == 1) {
    auto hook_route = std::find_if(kHookRoutes.begin(), kHookRoutes.end(), [&](const HookRoute& h) { return h.route == route; });
    const bool every = route == "update-every-webhooks";
    const bool notify = route == "update-notify-sent-by-me";
    if (hook_route != kHookRoutes.end() || every || notify) {
      if (!writes) return method_not_allowed("PUT, POST");
      json body;
      if (auto b = parse_body(req, body)) return answer(to_response(*b));
      Fields f{body, {}};
      if (notify) {
        auto on = f.boolean("notifySentByMe");
        if (!f.bad && !on) f.bad = Bad{400, "MISSING_FIELD", "'notifySentByMe' is required"};
        if (f.bad) return answer(to_response(*f.bad));
        if (*on && inst->hooks[static_cast<std::size_t>(Hook::received)].empty()) {
          return answer(error_response(409, "WEBHOOK_REQUIRED", "set the received webhook first"));
        }
        auto st = svc_.set_notify_sent_by_me(id, *on);
        if (!st) return answer(from_error(st.error()));
        return value_true();
      }
      auto it = body.find("value");
      if (it == body.end() || !(it->is_string() || it->is_null())) {
        return answer(error_response(400, "MISSING_FIELD", "'value' must be the webhook URL (or empty to remove it)"));
      }
      const std::string url = it->is_null() ? "" : it->get<std::string>();
      auto sent_by_me = f.boolean("notifySentByMe");
      if (f.bad) return answer(to_response(*f.bad));
      std::vector<Hook> hooks;
      if (every) {
        for (std::size_t i = 0; i < service::kHookCount; ++i) hooks.push_back(static_cast<Hook>(i));
      } else {
        hooks.push_back(hook_route->hook);
      }
      for (Hook h : hooks) {
        auto st = svc_.set_hook(id, h, url);
        if (!st) return answer(from_error(st.error()));
      }
      if (route == "update-webhook-received-delivery" || (every && sent_by_me)) {
        auto st = svc_.set_notify_sent_by_me(id, route == "update-webhook-received-delivery" ? !url.empty() : *sent_by_me);
        if (!st) return answer(from_error(st.error()));
      }
      return value_true();
    }
  }

  // zapd extensions: the webhook dead letters.
  if (route == "webhook-dead-letters") {
    if (r.size() == 1) {
      if (m != "GET") return method_not_allowed("GET");
      auto dl = svc_.dead_letters(id);
      if (!dl) return answer(from_error(dl.error()));
      json arr = json::array();
      for (const auto& d : *dl) {
        json payload = json::parse(d.body, nullptr, false);
        arr.push_back(json{{"eventId", d.event_id}, {"webhook", d.hook}, {"attempts", d.attempts}, {"lastError", d.last_error},
                           {"payload", payload.is_discarded() ? json(nullptr) : payload}});
      }
      return answer(json_ok(arr));
    }
    if (r.size() == 2 && r[1] == "replay") {
      if (m != "POST") return method_not_allowed("POST");
      auto n = svc_.replay_dead_letters(id);
      if (!n) return answer(from_error(n.error()));
      return answer(json_ok(json{{"value", true}, {"replayed", *n}}));
    }
  }
  not_found();
}

}  // namespace wa::gateway
