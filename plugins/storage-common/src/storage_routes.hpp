#pragma once

// The storage REST API for people (docs/reference/rest-api.md, Storage), on the internal
// listener under /v1/storage/. Keys travel in query strings or JSON bodies, never in the path.
// Roles: viewer lists, stats and gets download URLs; member gets upload URLs and runs multipart
// uploads; admin deletes. A backend plugin registers these routes in start() when it is the
// active backend; they call the backend directly, on the kernel's blocking workers.

#include "unidesk/http.hpp"
#include "unidesk/storage.hpp"

#include <memory>

namespace unidesk::storage {

//! The longest lifetime a person may ask for: 7 days, the limit S3 puts on presigned URLs.
inline constexpr std::int64_t kMaxUrlLifetimeS = 7 * 24 * 3600;

//! The JSON shape of an object in REST answers and task reports.
nlohmann::json object_json(const ObjectInfo& info);
nlohmann::json presigned_json(const PresignedUrl& url);

//! `backend` must outlive the routes (the plugin removes them when it stops).
Result<void> register_storage_routes(Router& router, std::shared_ptr<StorageBackend> backend);

}  // namespace unidesk::storage
