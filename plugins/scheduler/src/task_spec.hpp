#pragma once

// A submitted TaskSpec (docs/reference/rest-api.md) checked and completed with its defaults.
// Pure; thread-safe.

#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

namespace unidesk::scheduler {

//! The spec with every field present, or `invalid_request` / `invalid_commit` naming the field.
Result<nlohmann::json> normalize_spec(const nlohmann::json& in);

}  // namespace unidesk::scheduler
