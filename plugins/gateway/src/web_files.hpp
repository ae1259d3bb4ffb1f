#pragma once

// The built web UI (web/dist) served from a folder: files with their content types, hashed
// assets (under assets/) cached for a year, index.html never cached, and index.html for any
// other path without a file extension, so that the UI's own routes (/tasks/42) load the app.
// Paths are confined to the folder: `..`, hidden names and links out of it are 404.
// Thread-safe (reads the disk on each call; nothing is cached in memory).

#include <unidesk/http.hpp>

#include <filesystem>
#include <string>

namespace unidesk::gateway {

class WebFiles {
public:
    //! An empty dir means no web UI is configured.
    explicit WebFiles(std::filesystem::path dir);

    //! The answer to GET of `path`, relative to the UI's root ("" for the root itself).
    //! 503 `web_ui_unavailable` when the folder has no index.html (the UI is not built).
    HttpResponse serve(const std::string& path) const;

private:
    std::filesystem::path dir_;
};

//! The content type for a file name, by extension; application/octet-stream when unknown.
std::string content_type_for(const std::string& name);

}  // namespace unidesk::gateway
