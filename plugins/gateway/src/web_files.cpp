#include "web_files.hpp"

#include <fstream>
#include <map>
#include <sstream>

namespace unidesk::gateway {
namespace {

namespace fs = std::filesystem;

HttpResponse not_found(const std::string& path) {
    return HttpResponse::error(
        make_error(Errc::not_found, "not_found", "no page or file at /" + path.substr(0, 200)));
}

bool safe_relative(const std::string& path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        auto part =
            path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part.empty() && slash != std::string::npos) {
            return false;
        }
        if (!part.empty() && part.front() == '.') {
            return false;  // "..", "." and hidden files alike
        }
        if (slash == std::string::npos) {
            break;
        }
        start = slash + 1;
    }
    return path.find('\\') == std::string::npos;
}

std::optional<std::string> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

HttpResponse file_answer(const fs::path& p, std::string body, bool immutable) {
    HttpResponse r;
    r.content_type = content_type_for(p.filename().string());
    r.body = std::move(body);
    r.headers.emplace_back("Cache-Control",
                           immutable ? "public, max-age=31536000, immutable" : "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
}

}  // namespace

std::string content_type_for(const std::string& name) {
    static const std::map<std::string, std::string> types = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".ttf", "font/ttf"},
        {".txt", "text/plain; charset=utf-8"},
        {".wasm", "application/wasm"},
    };
    auto dot = name.rfind('.');
    if (dot == std::string::npos) {
        return "application/octet-stream";
    }
    auto it = types.find(name.substr(dot));
    return it == types.end() ? "application/octet-stream" : it->second;
}

WebFiles::WebFiles(std::filesystem::path dir) : dir_(std::move(dir)) {}

HttpResponse WebFiles::serve(const std::string& path) const {
    std::error_code ec;
    auto index = dir_ / "index.html";
    if (dir_.empty() || !fs::is_regular_file(index, ec)) {
        return HttpResponse::error(
            make_error(Errc::unavailable, "web_ui_unavailable",
                       "the web UI is not built or gateway.web_dir does not point at it (" +
                           dir_.string() + "); build it with `npm run build` in web/"));
    }
    if (!safe_relative(path)) {
        return not_found(path);
    }
    // A scraper pointed at the public address gets a clear 404 rather than the UI's page.
    if (path == "metrics") {
        return HttpResponse::error(make_error(Errc::not_found, "not_found",
                                              "/metrics is served on the internal listener only"));
    }

    if (!path.empty()) {
        auto file = dir_ / path;
        auto real = fs::weakly_canonical(file, ec);
        auto root = fs::weakly_canonical(dir_, ec);
        bool inside = !ec && real.string().rfind(root.string() + "/", 0) == 0;
        if (inside && fs::is_regular_file(real, ec)) {
            auto body = read_file(real);
            if (!body) {
                return not_found(path);
            }
            return file_answer(real, std::move(*body), path.rfind("assets/", 0) == 0);
        }
        // A missing file is a 404; a path without an extension is one of the UI's own pages.
        auto last = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
        if (last.find('.') != std::string::npos) {
            return not_found(path);
        }
    }

    auto body = read_file(index);
    if (!body) {
        return HttpResponse::error(
            make_error(Errc::unavailable, "web_ui_unavailable", "index.html cannot be read"));
    }
    return file_answer(index, std::move(*body), false);
}

}  // namespace unidesk::gateway
