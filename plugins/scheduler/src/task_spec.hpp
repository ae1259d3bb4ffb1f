#pragma once

// A submitted TaskSpec (docs/reference/rest-api.md) checked and completed with its defaults.
// Pure; thread-safe.

#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>

namespace unidesk::scheduler {

//! The most bytes a normalized spec may take as JSON: what goes to the node with it (input
//! URLs, the frame's envelope) must still fit the provider link's frame limit.
inline constexpr std::size_t kMaxSpecBytes = 256 * 1024;

//! The spec with every field present, or `invalid_request` / `invalid_commit` naming the field,
//! or `spec_too_large` (413) past kMaxSpecBytes.
Result<nlohmann::json> normalize_spec(const nlohmann::json& in);

}  // namespace unidesk::scheduler
