// The storage-s3 plugin: registers an S3Backend as the backend named "s3" and, when "s3" is the
// active backend, the storage REST API. Agents and people move bytes straight to and from the
// store with presigned URLs; nothing of an object passes through the kernel.
//
// Threads: none of its own. REST handlers run on the kernel's blocking workers.

#include "s3_backend.hpp"
#include "storage_routes.hpp"

#include <unidesk/plugin.hpp>

namespace unidesk::storage {
namespace {

const PluginDescriptor& describe() {
    static const PluginDescriptor d{
        .name = "storage-s3",
        .kind = PluginKind::storage,
        .version = "0.1.0",
        .description =
            "Keeps objects in any S3-compatible store and hands out presigned URLs "
            "(Signature Version 4) for them.",
        .config =
            {{"endpoint", ConfigType::string, "",
              "URL of the store as the main server reaches it, e.g. \"http://10.0.0.5:7480\"."},
             {"public_endpoint", ConfigType::string, "",
              "URL of the store as agents and people reach it; presigned URLs start with it. "
              "Empty: the same as endpoint."},
             {"region", ConfigType::string, "us-east-1",
              "Region that signatures name; most stores other than AWS accept any."},
             {"bucket", ConfigType::string, "", "Bucket that holds every object."},
             {"access_key", ConfigType::string, "", "Access key id."},
             {"secret_key", ConfigType::string, "", "Secret key."},
             {"path_style", ConfigType::boolean, true,
              "true: ENDPOINT/BUCKET/KEY; false: the bucket as a host name in front of the "
              "endpoint's (virtual-host style)."},
             {"timeout_ms", ConfigType::integer, 30000,
              "Deadline of one call from the server to the store (stat, list, delete ...)."}},
    };
    return d;
}

class S3Plugin final : public Plugin {
public:
    Result<void> start(KernelContext& ctx) override {
        ctx_ = &ctx;
        const auto& c = ctx.config();
        S3Options options;
        options.endpoint = c["endpoint"].get<std::string>();
        options.public_endpoint = c["public_endpoint"].get<std::string>();
        options.region = c["region"].get<std::string>();
        options.bucket = c["bucket"].get<std::string>();
        options.access_key = c["access_key"].get<std::string>();
        options.secret_key = c["secret_key"].get<std::string>();
        options.path_style = c["path_style"].get<bool>();
        options.timeout_ms = c["timeout_ms"].get<int>();
        auto backend = S3Backend::make(std::move(options), ctx.clock());
        if (!backend) {
            return backend.error();
        }
        backend_ = *backend;
        ctx.storage().register_backend(backend_);
        registered_ = true;
        if (ctx.storage().active_name() == backend_->name()) {
            if (auto r = register_storage_routes(ctx.router(), backend_); !r) {
                return r.error();
            }
        }
        ctx.logger()->info("storage-s3 started endpoint={} bucket={} active={}",
                           c["endpoint"].get<std::string>(), c["bucket"].get<std::string>(),
                           ctx.storage().active_name() == backend_->name());
        return {};
    }

    void stop() override {
        if (registered_) {
            ctx_->storage().unregister_backend("s3");
            registered_ = false;
        }
    }

    HealthReport health() override {
        if (!backend_) {
            return {HealthState::down, "not started"};
        }
        return backend_->health();
    }

private:
    KernelContext* ctx_ = nullptr;
    std::shared_ptr<S3Backend> backend_;
    bool registered_ = false;
};

Plugin* make() {
    return new S3Plugin();
}

const PluginEntry entry{kPluginApiVersion, &describe, &make};

}  // namespace
}  // namespace unidesk::storage

UNIDESK_PLUGIN(unidesk::storage::entry)
