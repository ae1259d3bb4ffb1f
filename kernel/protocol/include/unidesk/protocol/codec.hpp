#pragma once

// Turns frames into messages and back. Both functions are pure and thread-safe.
//
// decode() takes any bytes a peer sent and never throws or crashes: a frame it cannot accept is
// an Error whose code says which rule it broke, and whose message names the offending field
// (with its path, as in `body.gpus[1].memory_bytes`):
//   frame_too_large      (Errc::too_large)         the frame is above the caller's limit
//   malformed_json       (Errc::invalid_argument)  not JSON, or not a JSON object
//   missing_field        (Errc::invalid_argument)  a required field is absent
//   invalid_field        (Errc::invalid_argument)  a field has the wrong type or range
//   unknown_type         (Errc::invalid_argument)  `type` names no message of this version
//   unsupported_version  (Errc::invalid_argument)  `v` is not kProtocolVersion
// Unknown extra fields are ignored, so a newer peer may add optional ones.

#include "unidesk/protocol/messages.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace unidesk::protocol {

Result<Message> decode(std::string_view frame, std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

//! The frame for a message: compact JSON text.
std::string encode(const Message& message);

//! A body as the JSON object its frame carries.
nlohmann::json body_json(const Body& body);

}  // namespace unidesk::protocol
