#pragma once

// The core REST API for people and tokens, on the internal listener:
//   GET  /v1/whoami
//   GET  /v1/users                (admin)     POST /v1/users            (admin)
//   PATCH /v1/users/{id}          (admin: role, password)
//   GET  /v1/tokens               (own; admin: ?all=1)   POST /v1/tokens  (own)
//   DELETE /v1/tokens/{id}
//   GET  /v1/node-tokens          (admin)     POST /v1/node-tokens      (admin)
//   DELETE /v1/node-tokens/{id}   (admin)
// Documented in docs/reference/rest-api.md.

#include "auth/auth_service.hpp"
#include "unidesk/http.hpp"

namespace unidesk::kernel {

Result<void> register_auth_routes(Router& router, AuthService& auth);

}  // namespace unidesk::kernel
