// SPDX-License-Identifier: MIT
#include "node_json.hpp"

#include "wa/core/errc.hpp"

namespace wa::oracle {

using nlohmann::json;

json node_to_json(const wire::Node& n) {
  json attrs = json::array();
  for (const auto& a : n.attrs) {
    if (const auto* s = std::get_if<std::string>(&a.value)) {
      attrs.push_back(json::array({a.key, json{{"s", *s}}}));
    } else {
      attrs.push_back(json::array({a.key, json{{"j", std::get<Jid>(a.value).to_string()}}}));
    }
  }
  json content = nullptr;
  if (const auto* s = std::get_if<std::string>(&n.content)) {
    content = json{{"text", *s}};
  } else if (const auto* b = std::get_if<Bytes>(&n.content)) {
    content = json{{"bytes", to_hex(*b)}};
  } else if (const auto* j = std::get_if<Jid>(&n.content)) {
    content = json{{"jid", j->to_string()}};
  } else if (const auto* l = std::get_if<wire::NodeList>(&n.content)) {
    json list = json::array();
    for (const auto& c : *l) list.push_back(node_to_json(c));
    content = json{{"list", std::move(list)}};
  }
  return json{{"tag", n.tag}, {"attrs", std::move(attrs)}, {"content", std::move(content)}};
}

Result<wire::Node> node_from_json(const json& j) {
  auto bad = [](const char* what) { return fail(core::errc::invalid_argument, what); };
  if (!j.is_object() || !j.contains("tag") || !j["tag"].is_string()) return bad("node needs a tag");
  wire::Node n;
  n.tag = j["tag"].get<std::string>();
  if (j.contains("attrs")) {
    for (const auto& a : j["attrs"]) {
      if (!a.is_array() || a.size() != 2 || !a[0].is_string() || !a[1].is_object()) return bad("attr shape");
      if (a[1].contains("s")) {
        n.attrs.push_back({a[0].get<std::string>(), a[1]["s"].get<std::string>()});
      } else {
        WA_TRY(Jid jid, Jid::parse(a[1]["j"].get<std::string>()));
        n.attrs.push_back({a[0].get<std::string>(), std::move(jid)});
      }
    }
  }
  const json& c = j.contains("content") ? j["content"] : json(nullptr);
  if (c.is_null()) return n;
  if (c.contains("text")) {
    n.content = c["text"].get<std::string>();
  } else if (c.contains("bytes")) {
    WA_TRY(Bytes b, from_hex(c["bytes"].get<std::string>()));
    n.content = std::move(b);
  } else if (c.contains("jid")) {
    WA_TRY(Jid jid, Jid::parse(c["jid"].get<std::string>()));
    n.content = std::move(jid);
  } else if (c.contains("list")) {
    wire::NodeList list;
    for (const auto& child : c["list"]) {
      WA_TRY(wire::Node cn, node_from_json(child));
      list.push_back(std::move(cn));
    }
    n.content = std::move(list);
  } else {
    return bad("content shape");
  }
  return n;
}

}  // namespace wa::oracle
