#include "storage_routes.hpp"

#include <ctime>

namespace unidesk::storage {
namespace {

using nlohmann::json;

std::string iso_utc(std::chrono::system_clock::time_point t) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

template <class T>
HttpResponse answer(const Result<T>& r, const std::function<json(const T&)>& shape) {
    if (!r) {
        return HttpResponse::error(r.error());
    }
    return HttpResponse::json(shape(*r));
}

Result<std::string> string_field(const json& body, const char* name) {
    auto it = body.find(name);
    if (it == body.end() || !it->is_string()) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          std::string("\"") + name + "\" must be a string");
    }
    return it->get<std::string>();
}

Result<std::chrono::seconds> lifetime_field(const json& body) {
    auto it = body.find("lifetime_s");
    if (it == body.end()) {
        return std::chrono::seconds(3600);
    }
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
        it->get<std::int64_t>() > kMaxUrlLifetimeS) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          "\"lifetime_s\" must be an integer from 1 to 604800");
    }
    return std::chrono::seconds(it->get<std::int64_t>());
}

// A POST handler taking a JSON body with a "key": checks both before `then` runs.
HttpHandler with_key(std::function<HttpResponse(const json&, const std::string&)> then) {
    return [then = std::move(then)](const HttpRequest& req) {
        auto body = json_object_body(req);
        if (!body) {
            return HttpResponse::error(body.error());
        }
        auto key = string_field(*body, "key");
        if (!key) {
            return HttpResponse::error(key.error());
        }
        if (auto r = require_storage_key(*key); !r) {
            return HttpResponse::error(r.error());
        }
        return then(*body, *key);
    };
}

Result<std::string> query_key(const HttpRequest& req) {
    const std::string* key = req.query_param("key");
    if (key == nullptr) {
        return make_error(Errc::invalid_argument, "invalid_key", "the query needs ?key=");
    }
    if (auto r = require_storage_key(*key); !r) {
        return r.error();
    }
    return *key;
}

Result<std::vector<UploadedPart>> parts_field(const json& body) {
    auto it = body.find("parts");
    if (it == body.end() || !it->is_array() || it->empty() || it->size() > kMaxParts) {
        return make_error(Errc::invalid_argument, "invalid_request",
                          "\"parts\" must be a list of 1 to 10000 {number, etag}");
    }
    std::vector<UploadedPart> parts;
    for (const auto& p : *it) {
        if (!p.is_object() || !p.contains("number") || !p["number"].is_number_integer() ||
            !p.contains("etag") || !p["etag"].is_string()) {
            return make_error(Errc::invalid_argument, "invalid_request",
                              "each part must be {\"number\": N, \"etag\": \"...\"}");
        }
        parts.push_back({p["number"].get<int>(), p["etag"].get<std::string>()});
    }
    return parts;
}

}  // namespace

json object_json(const ObjectInfo& info) {
    return {{"key", info.key},
            {"size", info.size},
            {"sha256", info.sha256},
            {"etag", info.etag},
            {"modified_at", iso_utc(info.modified)}};
}

json presigned_json(const PresignedUrl& url) {
    json headers = json::object();
    for (const auto& [k, v] : url.headers) {
        headers[k] = v;
    }
    return {{"method", url.method},
            {"url", url.url},
            {"headers", headers},
            {"expires_at", iso_utc(url.expires_at)}};
}

Result<void> register_storage_routes(Router& router, std::shared_ptr<StorageBackend> backend) {
    // TODO: roles apply to every key alike; a member of one project may write under another's
    // `projects/NAME/`. Per-project rules need project membership, which does not exist yet.
    StorageBackend* b = backend.get();
    const RouteOptions viewer{.min_role = Role::viewer};
    const RouteOptions member{.min_role = Role::member};
    const RouteOptions admin{.min_role = Role::admin};
    auto shape_object = std::function<json(const ObjectInfo&)>([](const ObjectInfo& o) {
        return json{{"object", object_json(o)}};
    });
    auto shape_url = std::function<json(const PresignedUrl&)>(
        [](const PresignedUrl& u) { return presigned_json(u); });

    auto list = [b](const HttpRequest& req) {
        const std::string* prefix = req.query_param("prefix");
        const std::string* after = req.query_param("after");
        int limit = 100;
        if (const std::string* l = req.query_param("limit")) {
            limit = std::atoi(l->c_str());
            if (limit < 1 || limit > 1000) {
                return HttpResponse::error(make_error(Errc::invalid_argument, "invalid_limit",
                                                      "limit must be from 1 to 1000"));
            }
        }
        auto page = b->list(prefix ? *prefix : "", after ? *after : "", limit);
        return answer<ObjectPage>(page, [](const ObjectPage& p) {
            json objects = json::array();
            for (const auto& o : p.objects) {
                objects.push_back(object_json(o));
            }
            return json{{"objects", objects}, {"next", p.next}};
        });
    };
    auto stat = [b, shape_object](const HttpRequest& req) {
        auto key = query_key(req);
        if (!key) {
            return HttpResponse::error(key.error());
        }
        return answer<ObjectInfo>(b->stat(*key), shape_object);
    };
    auto remove = [b](const HttpRequest& req) {
        auto key = query_key(req);
        if (!key) {
            return HttpResponse::error(key.error());
        }
        auto r = b->remove(*key);
        if (!r) {
            return HttpResponse::error(r.error());
        }
        return HttpResponse::json({{"deleted", *key}});
    };
    auto presign = [b, shape_url](StorageMethod m) {
        return with_key([b, m, shape_url](const json& body, const std::string& key) {
            auto lifetime = lifetime_field(body);
            if (!lifetime) {
                return HttpResponse::error(lifetime.error());
            }
            return answer<PresignedUrl>(b->presign(m, key, *lifetime), shape_url);
        });
    };
    auto start = with_key([b](const json&, const std::string& key) {
        auto id = b->start_multipart(key);
        if (!id) {
            return HttpResponse::error(id.error());
        }
        return HttpResponse::json({{"key", key}, {"upload_id", *id}}, 201);
    });
    auto part_url = with_key([b, shape_url](const json& body, const std::string& key) {
        auto id = string_field(body, "upload_id");
        auto lifetime = lifetime_field(body);
        if (!id || !lifetime) {
            return HttpResponse::error(!id ? id.error() : lifetime.error());
        }
        if (!body.contains("part") || !body["part"].is_number_integer()) {
            return HttpResponse::error(
                make_error(Errc::invalid_argument, "invalid_request", "\"part\" must be a number"));
        }
        int part = body["part"].get<int>();
        return answer<PresignedUrl>(b->presign_part(key, *id, part, *lifetime), shape_url);
    });
    auto complete = with_key([b, shape_object](const json& body, const std::string& key) {
        auto id = string_field(body, "upload_id");
        auto parts = parts_field(body);
        if (!id || !parts) {
            return HttpResponse::error(!id ? id.error() : parts.error());
        }
        return answer<ObjectInfo>(b->complete_multipart(key, *id, *parts), shape_object);
    });
    auto abort = with_key([b](const json& body, const std::string& key) {
        auto id = string_field(body, "upload_id");
        if (!id) {
            return HttpResponse::error(id.error());
        }
        if (auto r = b->abort_multipart(key, *id); !r) {
            return HttpResponse::error(r.error());
        }
        return HttpResponse::json({{"aborted", *id}});
    });

    struct Route {
        const char* method;
        const char* pattern;
        HttpHandler handler;
        RouteOptions options;
    };
    const Route routes[] = {
        {"GET", "/v1/storage/objects", list, viewer},
        {"GET", "/v1/storage/object", stat, viewer},
        {"DELETE", "/v1/storage/object", remove, admin},
        {"POST", "/v1/storage/download-url", presign(StorageMethod::get), viewer},
        {"POST", "/v1/storage/upload-url", presign(StorageMethod::put), member},
        {"POST", "/v1/storage/multipart", start, member},
        {"POST", "/v1/storage/multipart/part-url", part_url, member},
        {"POST", "/v1/storage/multipart/complete", complete, member},
        {"POST", "/v1/storage/multipart/abort", abort, member},
    };
    for (const auto& r : routes) {
        if (auto added =
                router.add_route(Listener::internal, r.method, r.pattern, r.handler, r.options);
            !added) {
            return added.error();
        }
    }
    return {};
}

}  // namespace unidesk::storage
