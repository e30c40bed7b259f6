// SPDX-License-Identifier: MIT
// JSON form of a binary node shared with the oracle scripts (tests/oracle/lib.mjs, docs/testing.md):
// {"tag": s, "attrs": [[key, {"s": str} | {"j": jid}]...],
//  "content": null | {"text": s} | {"bytes": hex} | {"jid": s} | {"list": [node...]}}
#pragma once

#include <nlohmann/json.hpp>

#include "wa/core/result.hpp"
#include "wa/wire/node.hpp"

namespace wa::oracle {

nlohmann::json node_to_json(const wire::Node& n);
Result<wire::Node> node_from_json(const nlohmann::json& j);

}  // namespace wa::oracle
