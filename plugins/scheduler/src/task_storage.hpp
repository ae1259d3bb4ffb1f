#pragma once

// A task's files in storage, the scheduler's side (docs/reference/provider-protocol.md, Inputs
// and outputs):
// - when an attempt is sent to its node, its inputs become presigned GET URLs (a prefix becomes
//   one URL per object under it), valid for the time limit plus a margin, and each output gets
//   a capability URL of that attempt alone;
// - a node POSTs the names of its output files to the capability URL and gets presigned PUT
//   URLs for exactly those names under the output's prefix, only while the attempt has not
//   ended; a large file goes up in parts, each part's URL asked for when it is next. The
//   capability is an HMAC-SHA256 over the attempt id and an expiry, under `capability_secret`,
//   so it grants nothing beyond that attempt's own outputs;
// - when an attempt ends, its whole log is written as the object tasks/TASK/ATTEMPT.log.
//
// Thread-safe; every call blocks (storage and PostgreSQL): call it from a worker or the
// dispatcher thread.

#include "unidesk/kernel_context.hpp"

#include <nlohmann/json.hpp>

#include <mutex>
#include <string>

namespace unidesk::scheduler {

struct TaskStorageOptions {
    std::string public_url;  // base URL of the public listener, as nodes reach it
    std::string secret;      // capability_secret; empty: the one kept in the database
    std::chrono::seconds margin{3600};
    std::chrono::seconds no_limit_lifetime{24 * 3600};  // for tasks without a time limit
};

class TaskStorage {
public:
    TaskStorage(KernelContext& ctx, TaskStorageOptions options);

    //! Replaces `inputs` and `outputs` of a task.assign body (as the spec gave them) by what
    //! the node needs. Fails with `storage_unavailable` when no backend is active, and with the
    //! backend's error (e.g. `object_not_found` for a missing input).
    Result<void> resolve(nlohmann::json& assign_body);

    //! Registers the capability route on the public listener.
    Result<void> add_routes(Router& router);

    //! Stores the attempt's whole log; logs (not fails) when storage is down.
    void store_log(std::int64_t task_id, const std::string& attempt_id);

private:
    HttpResponse outputs_request(const HttpRequest& req);
    HttpResponse multipart_request(const nlohmann::json& body, const std::string& prefix);
    Result<std::string> capability(const std::string& attempt, const std::string& expires);
    // The configured secret, else the one in scheduler_secrets (read once, then kept: it never
    // changes). database_unavailable until it could be read.
    Result<std::string> secret();

    KernelContext& ctx_;
    TaskStorageOptions options_;
    std::mutex secret_mu_;
    std::string secret_;  // secret_mu_
};

}  // namespace unidesk::scheduler
