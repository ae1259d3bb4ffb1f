#include "task_storage.hpp"

#include "crypto.hpp"

#include <pqxx/pqxx>

namespace unidesk::scheduler {
namespace {

using nlohmann::json;

std::chrono::seconds lifetime_for(const json& body, const TaskStorageOptions& o) {
    auto limit = std::chrono::seconds(body.value("time_limit_s", std::int64_t{0}));
    auto life = (limit.count() > 0 ? limit : o.no_limit_lifetime) + o.margin;
    return std::min(life, std::chrono::seconds(7 * 24 * 3600));
}

Error forbidden(const std::string& message) {
    return make_error(Errc::forbidden, "capability_invalid", message);
}

}  // namespace

TaskStorage::TaskStorage(KernelContext& ctx, TaskStorageOptions options)
    : ctx_(ctx), options_(std::move(options)), secret_(options_.secret) {
    while (!options_.public_url.empty() && options_.public_url.back() == '/') {
        options_.public_url.pop_back();
    }
}

Result<std::string> TaskStorage::secret() {
    std::lock_guard lock(secret_mu_);
    if (secret_.empty()) {
        auto kept = ctx_.database().transact([](pqxx::work& tx) {
            return tx.exec1("SELECT value FROM scheduler_secrets WHERE name = 'capability'")[0]
                .as<std::string>();
        });
        if (!kept) {
            return kept.error();
        }
        secret_ = *kept;
    }
    return secret_;
}

Result<std::string> TaskStorage::capability(const std::string& attempt,
                                            const std::string& expires) {
    auto key = secret();
    if (!key) {
        return key.error();
    }
    return storage::to_hex(
        storage::hmac_sha256(*key, "unidesk-outputs-v1\n" + attempt + "\n" + expires));
}

Result<void> TaskStorage::resolve(json& body) {
    const json inputs = body.value("inputs", json::array());
    const json outputs = body.value("outputs", json::array());
    if (inputs.empty() && outputs.empty()) {
        return {};
    }
    auto backend = ctx_.storage().active();
    if (!backend) {
        return make_error(Errc::unavailable, "storage_unavailable",
                          "the task has inputs or outputs and no storage backend is running");
    }
    const auto lifetime = lifetime_for(body, options_);

    // Exactly the named objects, each with its size and checksum for the node to check.
    json resolved = json::array();
    auto add = [&](const ObjectInfo& o, const std::string& path) -> Result<void> {
        auto url = backend->presign(StorageMethod::get, o.key, lifetime);
        if (!url) {
            return url.error();
        }
        resolved.push_back({{"key", o.key},
                            {"path", path},
                            {"url", url->url},
                            {"size", o.size},
                            {"sha256", o.sha256}});
        return {};
    };
    for (const auto& in : inputs) {
        const std::string path = in["path"];
        if (in.contains("key")) {
            auto info = backend->stat(in["key"]);
            if (!info) {
                return info.error();
            }
            if (auto r = add(*info, path); !r) {
                return r.error();
            }
            continue;
        }
        const std::string prefix = in["prefix"];
        std::string after;
        do {
            auto page = backend->list(prefix, after, 1000);
            if (!page) {
                return page.error();
            }
            for (const auto& o : page->objects) {
                if (auto r = add(o, path + "/" + o.key.substr(prefix.size())); !r) {
                    return r.error();
                }
            }
            after = page->next;
        } while (!after.empty());
    }
    body["inputs"] = resolved;

    const std::string attempt = body["attempt_id"];
    const auto expires_at = std::chrono::duration_cast<std::chrono::seconds>(
        (ctx_.clock().now() + lifetime).time_since_epoch());
    const auto expires = std::to_string(expires_at.count());
    auto sig = capability(attempt, expires);
    if (!sig) {
        return sig.error();
    }
    json with_urls = json::array();
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        with_urls.push_back({{"path", outputs[i]["path"]},
                             {"prefix", outputs[i]["prefix"]},
                             {"upload_url", options_.public_url + "/v1/task-outputs/" + attempt +
                                                "?output=" + std::to_string(i) +
                                                "&expires=" + expires + "&sig=" + *sig}});
    }
    body["outputs"] = with_urls;
    return {};
}

Result<void> TaskStorage::add_routes(Router& router) {
    return router.add_route(
        Listener::public_, "POST", "/v1/task-outputs/{attempt}",
        [this](const HttpRequest& req) { return outputs_request(req); },
        RouteOptions{.min_role = std::nullopt});
}

// {"files": ["a.txt", "sub/b.bin"]} -> {"urls": [{"path", "key", "url"}]}
HttpResponse TaskStorage::outputs_request(const HttpRequest& req) {
    const std::string attempt = req.params.at("attempt");
    auto q = [&](const char* name) {
        const auto* v = req.query_param(name);
        return v ? *v : std::string();
    };
    const std::string expires = q("expires");
    auto sig = capability(attempt, expires);
    if (!sig) {
        return HttpResponse::error(sig.error());
    }
    if (!storage::constant_time_equal(*sig, q("sig"))) {
        return HttpResponse::error(forbidden("the capability URL is not valid"));
    }
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(ctx_.clock().now().time_since_epoch());
    if (expires.empty() || expires.size() > 18 || std::stoll(expires) < now.count()) {
        return HttpResponse::error(forbidden("the capability URL has expired"));
    }

    // The attempt must still run: an ended one has no business writing outputs.
    auto spec = ctx_.database().transact([&](pqxx::work& tx) -> std::optional<json> {
        auto rows = tx.exec_params(
            "SELECT t.spec FROM scheduler_attempts a JOIN scheduler_tasks t ON t.id = a.task_id "
            "WHERE a.id = $1 AND a.ended_at IS NULL",
            attempt);
        if (rows.empty()) {
            return std::nullopt;
        }
        return json::parse(rows[0][0].as<std::string>());
    });
    if (!spec) {
        return HttpResponse::error(spec.error());
    }
    if (!*spec) {
        return HttpResponse::error(forbidden("attempt " + attempt + " is not running"));
    }
    const json outputs = (**spec).value("outputs", json::array());
    const auto index = static_cast<std::size_t>(std::atoi(q("output").c_str()));
    if (index >= outputs.size()) {
        return HttpResponse::error(forbidden("the attempt has no such output"));
    }
    const std::string prefix = outputs[index]["prefix"];

    auto parsed = json_object_body(req);
    if (!parsed) {
        return HttpResponse::error(parsed.error());
    }
    const json& body = *parsed;
    if (body.contains("multipart")) {
        return multipart_request(body, prefix);
    }
    if (!body.contains("files") || !body["files"].is_array() || body["files"].size() > 1000) {
        return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request",
                                              "the body must be {\"files\": [up to 1000 paths]}"));
    }
    auto backend = ctx_.storage().active();
    if (!backend) {
        return HttpResponse::error(
            make_error(Errc::unavailable, "storage_unavailable", "no storage backend is running"));
    }
    json urls = json::array();
    for (const auto& f : body["files"]) {
        if (!f.is_string() || check_storage_key(f.get<std::string>())) {
            return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request",
                                                  "each file must be a relative path"));
        }
        const std::string key = prefix + f.get<std::string>();
        auto url = backend->presign(StorageMethod::put, key, options_.margin);
        if (!url) {
            return HttpResponse::error(url.error());
        }
        urls.push_back({{"path", f}, {"key", key}, {"url", url->url}});
    }
    return HttpResponse::json({{"urls", urls}});
}

// One step of a multipart upload of one output file, each URL asked for when it is needed:
// {"multipart": "start" | "part" | "complete" | "abort", "file", "upload_id", "part", "parts"}.
HttpResponse TaskStorage::multipart_request(const json& body, const std::string& prefix) {
    auto bad = [](const std::string& m) {
        return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_request", m));
    };
    const json file = body.value("file", json());
    const json step = body["multipart"];
    if (!file.is_string() || check_storage_key(file.get<std::string>()) || !step.is_string()) {
        return bad("a multipart step needs \"multipart\" and a relative \"file\"");
    }
    auto backend = ctx_.storage().active();
    if (!backend) {
        return HttpResponse::error(
            make_error(Errc::unavailable, "storage_unavailable", "no storage backend is running"));
    }
    const std::string key = prefix + file.get<std::string>();
    const std::string upload_id = body.value("upload_id", "");
    if (step == "start") {
        auto id = backend->start_multipart(key);
        return id ? HttpResponse::json({{"key", key}, {"upload_id", *id}})
                  : HttpResponse::error(id.error());
    }
    if (step == "part") {
        const json part = body.value("part", json());
        if (!part.is_number_integer()) {
            return bad("\"part\" must be a number");
        }
        auto url = backend->presign_part(key, upload_id, part.get<int>(), options_.margin);
        return url ? HttpResponse::json({{"url", url->url}}) : HttpResponse::error(url.error());
    }
    if (step == "complete") {
        std::vector<UploadedPart> parts;
        for (const auto& p : body.value("parts", json::array())) {
            if (!p.is_object() || !p.value("number", json()).is_number_integer() ||
                !p.value("etag", json()).is_string()) {
                return bad("each part must be {\"number\", \"etag\"}");
            }
            parts.push_back({p["number"].get<int>(), p["etag"].get<std::string>()});
        }
        auto info = backend->complete_multipart(key, upload_id, parts);
        return info ? HttpResponse::json({{"key", key}, {"size", info->size}})
                    : HttpResponse::error(info.error());
    }
    if (step == "abort") {
        auto r = backend->abort_multipart(key, upload_id);
        return r ? HttpResponse::json({{"aborted", upload_id}}) : HttpResponse::error(r.error());
    }
    return bad("\"multipart\" must be start, part, complete or abort");
}

void TaskStorage::store_log(std::int64_t task_id, const std::string& attempt_id) {
    auto backend = ctx_.storage().active();
    if (!backend) {
        return;
    }
    auto text = ctx_.database().transact([&](pqxx::work& tx) {
        std::string out;
        for (const auto& row :
             tx.exec_params("SELECT data FROM scheduler_task_logs WHERE attempt_id = $1 "
                            "ORDER BY seq",
                            attempt_id)) {
            out += row[0].as<std::string>();
        }
        return out;
    });
    const std::string key = "tasks/" + std::to_string(task_id) + "/" + attempt_id + ".log";
    if (!text) {
        ctx_.logger()->warn("task log not stored attempt={} error=\"{}\"", attempt_id,
                            text.error().message);
        return;
    }
    if (auto r = backend->put_small(key, *text); !r) {
        ctx_.logger()->warn("task log not stored attempt={} error=\"{}\"", attempt_id,
                            r.error().message);
        return;
    }
    ctx_.logger()->info("task log stored attempt={} key={} bytes={}", attempt_id, key,
                        text->size());
}

}  // namespace unidesk::scheduler
