// Router: the admin REST API's request handling, independent of sockets.
//
// Maps HTTP requests to the same cmdlet implementations the admin interpreter runs, so the
// REST API and the cmdlets cannot drift apart: resource routes (GET/POST/PATCH/DELETE on
// /api/v1/users, /groups, /policies, ...) become cmdlet invocations with the JSON body as
// named parameters; /api/v1/cmdlets/{Name} invokes any cmdlet; /api/v1/script runs a script
// atomically; /api/v1/decision and /api/v1/explain answer "is this party recorded?";
// /api/v1/calls and /api/v1/calls/{callId} are the gateway's call records (call_log.h).
// Every /api route needs `Authorization: Bearer <token>` (tokens: `verbatim token create`).
// docs/rest-api.md and docs/openapi.yaml describe it. Thread-safe as PolicyService is.
#pragma once

#include <map>
#include <string>

#include <boost/beast/http.hpp>

#include "policy/service.h"

namespace verbatim::adminapi {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// SHA-256 hex of a token, as stored.
std::string token_hash(const std::string& token);

class Router {
 public:
  // `calls_file`: the gateway's call records (<data_dir>/gateway-calls.jsonl).
  explicit Router(policy::PolicyService& svc, std::string calls_file = {})
      : svc_(svc), calls_file_(std::move(calls_file)) {}
  Response handle(const Request& req);

 private:
  Response calls(const Request& req, std::string_view call_id,
                 const std::map<std::string, std::string>& query);
  policy::PolicyService& svc_;
  std::string calls_file_;
};

}  // namespace verbatim::adminapi
