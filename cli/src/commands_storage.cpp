// Files in storage: `unidesk storage ls|put|get|rm` over /v1/storage/ and the presigned URLs it
// hands out. Bytes go straight between this machine and the store. A large `put` is a multipart
// upload whose progress is kept in a small state file, so that running the same command again
// after an interruption sends only the parts that are missing.

#include "command.hpp"
#include "exit_codes.hpp"
#include "file_transfer.hpp"
#include "table.hpp"
#include "time_format.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <ostream>

namespace unidesk::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A file larger than one part goes up in parts.
constexpr std::uint64_t kDefaultPartSize = 64ull * 1024 * 1024;
constexpr std::uint64_t kMinPartSize = 5ull * 1024 * 1024;
constexpr std::uint64_t kMaxParts = 10000;
// The lifetime asked for each URL: long enough for one part or file on a slow link.
constexpr int kUrlLifetimeS = 6 * 3600;

std::string query_value(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

bool show_progress(const CommandContext& ctx) {
    return !ctx.inv.has("quiet") && !ctx.json && ::isatty(2) == 1;
}

Result<std::uint64_t> size_option(const CommandContext& ctx, const char* name,
                                  std::uint64_t fallback) {
    auto v = ctx.inv.value(name);
    if (!v) {
        return fallback;
    }
    char* end = nullptr;
    double n = std::strtod(v->c_str(), &end);
    std::string unit(end);
    double scale = unit.empty() || unit == "B"    ? 1
                   : unit == "K" || unit == "KiB" ? 1024.0
                   : unit == "M" || unit == "MiB" ? 1024.0 * 1024
                   : unit == "G" || unit == "GiB" ? 1024.0 * 1024 * 1024
                                                  : -1;
    if (end == v->c_str() || n <= 0 || scale < 0) {
        return usage_error(std::string("--") + name + " takes a size such as 64M or 1G");
    }
    return static_cast<std::uint64_t>(n * scale);
}

Result<int> ls(CommandContext& ctx) {
    std::string prefix = ctx.args.empty() ? "" : ctx.args[0];
    Table table({"KEY", "SIZE", "MODIFIED", "SHA256"});
    json all = json::array();
    std::string after;
    do {
        auto answer =
            ctx.client.call("GET", "/v1/storage/objects?limit=1000&prefix=" + query_value(prefix) +
                                       "&after=" + query_value(after));
        if (!answer) {
            return answer.error();
        }
        for (const auto& o : answer->json.value("objects", json::array())) {
            all.push_back(o);
            table.add_row({cell(o, "key"), human_bytes(o.value("size", json())),
                           time_cell(o, "modified_at", ctx.utc), cell(o, "sha256")});
        }
        after = answer->json.value("next", "");
    } while (!after.empty());
    if (ctx.json) {
        ctx.io.out << json{{"objects", all}}.dump() << "\n";
    } else if (table.rows() > 0) {
        ctx.io.out << table.render();
    }
    return kExitOk;
}

Result<std::string> url_for(CommandContext& ctx, const std::string& what, const json& body) {
    auto answer = ctx.client.call("POST", "/v1/storage/" + what, body);
    if (!answer) {
        return answer.error();
    }
    return answer->json.value("url", "");
}

// Where an interrupted multipart upload is remembered: one file per local file and key.
fs::path state_file(const fs::path& file, const std::string& key, const std::string& server) {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    fs::path dir = state && *state
                       ? fs::path(state) / "unidesk" / "uploads"
                       : fs::path(home ? home : ".") / ".local" / "state" / "unidesk" / "uploads";
    auto id = std::hash<std::string>{}(server + "\n" + fs::absolute(file).string() + "\n" + key);
    return dir / (std::to_string(id) + ".json");
}

void save_state(const fs::path& path, const json& state) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    auto temp = path;
    temp += ".tmp";
    {
        std::ofstream out(temp, std::ios::trunc);
        out << state.dump();
    }
    fs::rename(temp, path, ec);
}

Result<int> put_multipart(CommandContext& ctx, const fs::path& file, const std::string& key,
                          std::uint64_t size, std::uint64_t part_size, std::uint64_t max_rate) {
    auto mtime = static_cast<std::int64_t>(fs::last_write_time(file).time_since_epoch().count());
    auto state_path = state_file(file, key, ctx.client.settings().server);
    json state;
    {
        std::ifstream in(state_path);
        state = json::parse(in, nullptr, false);
    }
    bool resumable = state.is_object() && state.value("size", std::uint64_t{0}) == size &&
                     state.value("mtime", std::int64_t{0}) == mtime &&
                     state.value("part_size", std::uint64_t{0}) > 0;
    if (resumable) {
        part_size = state["part_size"];
        ctx.io.err << "resuming the upload of " << key << ": " << state["parts"].size()
                   << " parts already sent\n";
    } else {
        auto started = ctx.client.call("POST", "/v1/storage/multipart", json{{"key", key}});
        if (!started) {
            return started.error();
        }
        state = {{"key", key},
                 {"upload_id", started->json.value("upload_id", "")},
                 {"size", size},
                 {"mtime", mtime},
                 {"part_size", part_size},
                 {"parts", json::object()}};
        save_state(state_path, state);
    }

    const std::string upload_id = state["upload_id"];
    const auto count = static_cast<int>((size + part_size - 1) / part_size);
    std::uint64_t already = 0;
    for (const auto& [n, etag] : state["parts"].items()) {
        already += std::min<std::uint64_t>(part_size, size - (std::stoull(n) - 1) * part_size);
    }
    Progress progress(show_progress(ctx), size, already);
    std::uint64_t done = already;
    for (int n = 1; n <= count; ++n) {
        if (state["parts"].contains(std::to_string(n))) {
            continue;
        }
        const std::uint64_t offset = static_cast<std::uint64_t>(n - 1) * part_size;
        const std::uint64_t length = std::min(part_size, size - offset);
        auto url = url_for(
            ctx, "multipart/part-url",
            {{"key", key}, {"upload_id", upload_id}, {"part", n}, {"lifetime_s", kUrlLifetimeS}});
        if (!url) {
            return url.error();
        }
        auto sent = put_file_range(*url, file, offset, length, progress, done, max_rate);
        if (!sent) {
            progress.finish();
            ctx.io.err << "the upload stopped at part " << n << " of " << count
                       << "; run the same command again to send the rest\n";
            return sent.error();
        }
        done += length;
        state["parts"][std::to_string(n)] = sent->etag;
        save_state(state_path, state);
    }
    progress.finish();

    json parts = json::array();
    for (int n = 1; n <= count; ++n) {
        parts.push_back({{"number", n}, {"etag", state["parts"][std::to_string(n)]}});
    }
    auto done_answer =
        ctx.client.call("POST", "/v1/storage/multipart/complete",
                        json{{"key", key}, {"upload_id", upload_id}, {"parts", parts}});
    if (!done_answer) {
        return done_answer.error();
    }
    std::error_code ec;
    fs::remove(state_path, ec);
    if (ctx.json) {
        print_raw(ctx.io.out, *done_answer);
    } else {
        ctx.io.out << "stored " << key << " (" << human_bytes(json(size)) << ", " << count
                   << " parts)\n";
    }
    return kExitOk;
}

Result<int> put(CommandContext& ctx) {
    const fs::path file = ctx.args[0];
    const std::string key = ctx.args.size() > 1 ? ctx.args[1] : file.filename().string();
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    if (ec) {
        // A file named on the command line that is not there: the command line is wrong.
        return usage_error("cannot read " + file.string() + ": " + ec.message());
    }
    auto part_size = size_option(ctx, "part-size", kDefaultPartSize);
    auto max_rate = size_option(ctx, "max-rate", 0);
    if (!part_size || !max_rate) {
        return !part_size ? part_size.error() : max_rate.error();
    }
    if (*part_size < kMinPartSize) {
        return usage_error("--part-size must be at least 5M");
    }
    if (size > *part_size) {
        // Parts grow for a file so large that 10000 of the asked size would not hold it.
        auto needed = (size + kMaxParts - 1) / kMaxParts;
        return put_multipart(ctx, file, key, size, std::max(*part_size, needed), *max_rate);
    }

    auto url = url_for(ctx, "upload-url", {{"key", key}, {"lifetime_s", kUrlLifetimeS}});
    if (!url) {
        return url.error();
    }
    Progress progress(show_progress(ctx), size);
    auto sent = put_file_range(*url, file, 0, size, progress, 0, *max_rate);
    progress.finish();
    if (!sent) {
        return sent.error();
    }
    if (ctx.json) {
        ctx.io.out << json{{"key", key}, {"size", size}, {"etag", sent->etag}}.dump() << "\n";
    } else {
        ctx.io.out << "stored " << key << " (" << human_bytes(json(size)) << ")\n";
    }
    return kExitOk;
}

Result<int> get(CommandContext& ctx) {
    const std::string key = ctx.args[0];
    const fs::path file = ctx.args.size() > 1 ? fs::path(ctx.args[1]) : fs::path(key).filename();
    auto info = ctx.client.call("GET", "/v1/storage/object?key=" + query_value(key));
    if (!info) {
        return info.error();
    }
    const auto object = info->json.value("object", json::object());
    auto max_rate = size_option(ctx, "max-rate", 0);
    if (!max_rate) {
        return max_rate.error();
    }
    auto url = url_for(ctx, "download-url", {{"key", key}, {"lifetime_s", kUrlLifetimeS}});
    if (!url) {
        return url.error();
    }

    // Written beside the target and renamed at the end, so a broken download leaves no file
    // that looks whole.
    auto partial = file;
    partial += ".part";
    Progress progress(show_progress(ctx), object.value("size", std::uint64_t{0}));
    auto got = get_to_file(*url, partial, progress, *max_rate);
    progress.finish();
    std::error_code ec;
    if (!got) {
        fs::remove(partial, ec);
        return got.error();
    }
    const std::string expected = object.value("sha256", "");
    if (!expected.empty() && expected != got->sha256) {
        fs::remove(partial, ec);
        return make_error(Errc::internal, "checksum_mismatch",
                          "the download of " + key + " does not match its SHA-256");
    }
    fs::rename(partial, file, ec);
    if (ec) {
        return make_error(Errc::invalid_argument, "file_unwritable",
                          "cannot write " + file.string() + ": " + ec.message());
    }
    if (ctx.json) {
        ctx.io.out << json{{"key", key},
                           {"file", file.string()},
                           {"size", got->bytes},
                           {"sha256", got->sha256}}
                          .dump()
                   << "\n";
    } else {
        ctx.io.out << "wrote " << file.string() << " (" << human_bytes(json(got->bytes)) << ")\n";
    }
    return kExitOk;
}

Result<int> rm(CommandContext& ctx) {
    return call_and_show(ctx, "DELETE", "/v1/storage/object?key=" + query_value(ctx.args[0]),
                         std::nullopt,
                         [&](const Answer&) { ctx.io.out << "deleted " << ctx.args[0] << "\n"; });
}

}  // namespace

std::vector<Command> storage_commands() {
    return {
        {{"storage", "ls"}, {"[PREFIX]"}, {}, "", "list objects whose key starts with PREFIX", ls},
        {{"storage", "put"},
         {"FILE", "[KEY]"},
         {"part-size", "max-rate", "quiet"},
         "[--part-size 64M] [--max-rate 10M]",
         "upload a file (a large one in parts; run again to resume an interrupted upload)",
         put},
        {{"storage", "get"},
         {"KEY", "[FILE]"},
         {"max-rate", "quiet"},
         "[--max-rate 10M]",
         "download an object and check its checksum",
         get},
        {{"storage", "rm"}, {"KEY"}, {}, "", "delete an object (admin)", rm},
    };
}

}  // namespace unidesk::cli
