// SPDX-License-Identifier: MIT
// The Z-API REST contract over the service (docs/api.md): routing, authentication, JSON validation and
// the documented error bodies. No sockets here (http_server.hpp carries requests in and answers out), so
// every route and every bad input is unit-testable. Never sees WhatsApp types.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "wa/service/service.hpp"

namespace wa::gateway {

struct HttpRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< path and query
  std::string content_type;
  std::string client_token;   ///< the Client-Token header
  std::string authorization;  ///< the Authorization header
  bool has_client_token = false;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;  ///< JSON, or empty for 204
  std::vector<std::pair<std::string, std::string>> headers;
  std::string file;  ///< when set, the body is this file, streamed from disk (body is ignored)
};

struct ApiConfig {
  std::string admin_token;   ///< Authorization: Bearer for the partner routes
  std::string client_token;  ///< account-level Client-Token; not enforced when empty
  std::string version;
};

class Api final {
 public:
  Api(service::Service& svc, ApiConfig cfg);
  using Respond = std::function<void(HttpResponse)>;
  /// Answers req through respond, exactly once (at once, or later for the pairing routes).
  void handle(const HttpRequest& req, Respond respond);

 private:
  service::Service& svc_;
  ApiConfig cfg_;
};

/// Whether a request target is a media send (send-image, -audio, -video, -document/{ext}, -sticker) or
/// send-link (its preview image), whose body may carry a file as a data: URI and so gets the larger body limit.
bool is_media_send(std::string_view target);

/// The JSON text of an instance as GET /me and GET /instances show it (written directly: listing 1,000
/// numbers through a JSON tree cost milliseconds per poll). Keys in the same (sorted) order as a tree's.
void append_instance_json(std::string& out, const service::InstanceView& v);

/// The JSON error body every failure uses: {"error": CODE, "message": text}.
HttpResponse error_response(int status, std::string_view code, std::string_view message);

}  // namespace wa::gateway
