#pragma once

// WebSocket close codes of the provider link. The application codes (4000-4999) say why the
// server (or the agent) ended a session; the close frame's reason text is the stable name.

#include <cstdint>
#include <string_view>

namespace unidesk::protocol {

enum class CloseReason : std::uint16_t {
    normal = 1000,               // orderly end, after `leaving` or on server shutdown
    going_away = 1001,           // the server is shutting down; reconnect later
    token_revoked = 4001,        // the node token was revoked; reconnecting will be refused
    unsupported_version = 4002,  // the envelope's `v` is not spoken by this peer
    frame_too_large = 4003,
    malformed_message = 4004,    // bad JSON, a missing or ill-typed field, an unknown type
    not_allowed = 4005,          // a valid message at the wrong time (heartbeat before register)
    superseded = 4006,           // the node registered again through a newer session
    heartbeat_timeout = 4007,    // nothing heard from the node within the offline limit
    registration_refused = 4008  // the register body was refused (bad name, duplicate ...)
};

//! The stable name sent as the close reason text ("token_revoked"), or "unknown".
std::string_view close_reason_name(std::uint16_t code);

}  // namespace unidesk::protocol
