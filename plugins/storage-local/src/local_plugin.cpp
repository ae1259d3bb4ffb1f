// The storage-local plugin: registers the LocalStore as the backend named "local", serves its
// signed URLs on the public listener (GET with ranges, PUT of whole objects and of multipart
// parts, both streamed), and, when "local" is the active backend, the storage REST API.
//
// Threads: the signed-URL handlers run on the kernel's stream threads, one per transfer; the
// REST handlers on its blocking workers. stop() unregisters the backend; the kernel removes the
// routes before it unloads the plugin.

#include "local_store.hpp"
#include "storage_routes.hpp"

#include <unidesk/plugin.hpp>

namespace unidesk::storage {
namespace {

using nlohmann::json;

const PluginDescriptor& describe() {
    static const PluginDescriptor d{
        .name = "storage-local",
        .kind = PluginKind::storage,
        .version = "0.1.0",
        .description =
            "Keeps objects in a folder on the main server and serves signed URLs for "
            "them on the public listener.",
        .config =
            {{"data_dir", ConfigType::string, "data/storage",
              "Folder that holds the objects; relative to the kernel's working directory."},
             {"secret", ConfigType::string, "",
              "Key of the HMAC-SHA256 signatures in signed URLs, at least 32 characters; the same "
              "on every kernel instance. Changing it invalidates every URL handed out."},
             {"public_url", ConfigType::string, "",
              "Base URL at which agents and people reach the public listener, e.g. "
              "\"https://desk.example.org\"; signed URLs start with it."},
             {"sync_writes", ConfigType::boolean, true,
              "Flush each object to disk before it becomes visible, so that a crash never "
              "leaves a visible object with missing content."}},
    };
    return d;
}

SignedRequest signed_request(const HttpRequest& req) {
    SignedRequest s;
    s.method = req.method;
    auto take = [&req](const char* name) {
        const std::string* v = req.query_param(name);
        return v ? *v : std::string();
    };
    auto it = req.params.find("key");
    s.key = it == req.params.end() ? std::string() : it->second;
    s.expires = take("expires");
    s.signature = take("sig");
    s.upload_id = take("upload");
    s.part = take("part");
    return s;
}

class LocalPlugin final : public Plugin {
public:
    Result<void> start(KernelContext& ctx) override {
        ctx_ = &ctx;
        const auto& c = ctx.config();
        LocalStoreOptions options;
        options.data_dir = c["data_dir"].get<std::string>();
        options.secret = c["secret"].get<std::string>();
        options.public_url = c["public_url"].get<std::string>();
        options.sync_writes = c["sync_writes"].get<bool>();
        if (options.public_url.empty()) {
            return make_error(Errc::invalid_argument, "config_invalid",
                              "plugin.storage-local.public_url must be set: signed URLs start "
                              "with it");
        }
        auto store = LocalStore::open(std::move(options), ctx.clock());
        if (!store) {
            return store.error();
        }
        store_ = *store;

        if (auto r = add_signed_routes(ctx.router()); !r) {
            return r.error();
        }
        ctx.storage().register_backend(store_);
        registered_ = true;
        if (ctx.storage().active_name() == store_->name()) {
            if (auto r = register_storage_routes(ctx.router(), store_); !r) {
                return r.error();
            }
        }
        ctx.logger()->info("storage-local started data_dir={} active={}",
                           store_->data_dir().string(),
                           ctx.storage().active_name() == store_->name());
        return {};
    }

    void stop() override {
        if (registered_) {
            ctx_->storage().unregister_backend("local");
            registered_ = false;
        }
    }

    HealthReport health() override {
        if (!store_) {
            return {HealthState::down, "not started"};
        }
        return store_->health();
    }

private:
    Result<void> add_signed_routes(Router& router) {
        std::shared_ptr<LocalStore> store = store_;
        const RouteOptions open{.min_role = std::nullopt};
        auto get = [store](const HttpRequest& req, BodyReader&,
                           ResponseStream& out) -> std::optional<HttpResponse> {
            auto s = signed_request(req);
            if (auto v = store->verify(s); !v) {
                return HttpResponse::error(v.error());
            }
            const std::string* range = req.header("range");
            bool begun = false;
            auto r = store->serve_get(
                s, range ? *range : std::string(),
                [&](const ServeHead& head) {
                    begun = true;
                    return out.begin(head.status, "application/octet-stream", head.headers,
                                     head.length);
                },
                [&](std::string_view data) { return out.write(data); });
            if (!r && !begun) {
                return HttpResponse::error(r.error());
            }
            return std::nullopt;
        };
        auto put = [store](const HttpRequest& req, BodyReader& body,
                           ResponseStream&) -> std::optional<HttpResponse> {
            auto s = signed_request(req);
            if (auto v = store->verify(s); !v) {
                return HttpResponse::error(v.error());
            }
            auto info = store->receive_put(
                s, body.content_length(),
                [&body](char* out, std::size_t max) { return body.read(out, max); });
            if (!info) {
                return HttpResponse::error(info.error());
            }
            auto answer = HttpResponse::json({{"object", object_json(*info)}});
            answer.headers.emplace_back("ETag", "\"" + info->etag + "\"");
            return answer;
        };
        const std::string pattern = "/v1/storage/local/{key...}";
        if (auto r = router.add_stream_route(Listener::public_, "GET", pattern, get, open); !r) {
            return r.error();
        }
        return router.add_stream_route(Listener::public_, "PUT", pattern, put, open);
    }

    KernelContext* ctx_ = nullptr;
    std::shared_ptr<LocalStore> store_;
    bool registered_ = false;
};

Plugin* make() {
    return new LocalPlugin();
}

const PluginEntry entry{kPluginApiVersion, &describe, &make};

}  // namespace
}  // namespace unidesk::storage

UNIDESK_PLUGIN(unidesk::storage::entry)
