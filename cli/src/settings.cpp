#include "settings.hpp"

#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>
#include <utility>

namespace unidesk::cli {

namespace {

struct FileSettings {
    std::optional<std::string> server;
    std::optional<std::string> token;
};

Error config_error(std::string message) {
    return make_error(Errc::invalid_argument, kConfigInvalid, std::move(message));
}

Result<std::optional<std::string>> string_key(const toml::table& t, const char* key,
                                              const std::string& path) {
    const auto* node = t.get(key);
    if (node == nullptr) {
        return std::optional<std::string>{};
    }
    const auto* s = node->as_string();
    if (s == nullptr) {
        return config_error(path + ": key '" + key + "' must be a string");
    }
    return std::optional<std::string>{s->get()};
}

Result<FileSettings> read_config_file(const std::string& path, bool must_exist) {
    std::error_code ec;
    if (path.empty() || !std::filesystem::exists(path, ec)) {
        if (must_exist) {
            return config_error("config file " + path + " does not exist");
        }
        return FileSettings{};
    }

    toml::table table;
    try {
        table = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        return config_error(path + ": " + std::string(e.description()));
    }

    auto server = string_key(table, "server", path);
    if (!server) {
        return server.error();
    }
    auto token = string_key(table, "token", path);
    if (!token) {
        return token.error();
    }
    // A token in a file others can read is theirs too, and one they can change could send it to
    // a server of theirs: such a file is refused, as ssh refuses a key others can read.
    if (*token) {
        const auto mode = std::filesystem::status(path, ec).permissions();
        using std::filesystem::perms;
        if (!ec && (mode & (perms::group_all | perms::others_all)) != perms::none) {
            return config_error(path +
                                " holds a token and other users can read or change it; "
                                "make it yours alone: chmod 600 " +
                                path);
        }
    }
    return FileSettings{std::move(*server), std::move(*token)};
}

//! The first non-empty value of the three places, in order of precedence.
std::optional<std::string> first_of(const std::optional<std::string>& flag,
                                    const std::optional<std::string>& env,
                                    const std::optional<std::string>& file) {
    for (const auto* v : {&flag, &env, &file}) {
        if (*v && !(*v)->empty()) {
            return **v;
        }
    }
    return std::nullopt;
}

}  // namespace

EnvLookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
}

std::string default_config_path(const EnvLookup& env) {
    if (auto xdg = env("XDG_CONFIG_HOME"); xdg && !xdg->empty()) {
        return *xdg + "/unidesk/cli.toml";
    }
    if (auto home = env("HOME"); home && !home->empty()) {
        return *home + "/.config/unidesk/cli.toml";
    }
    return {};
}

Result<Settings> resolve_settings(const SettingsFlags& flags, const EnvLookup& env) {
    const bool explicit_file = flags.config_file.has_value();
    const std::string path = explicit_file ? *flags.config_file : default_config_path(env);
    auto file = read_config_file(path, explicit_file);
    if (!file) {
        return file.error();
    }

    auto server = first_of(flags.server, env("UNIDESK_SERVER"), file->server);
    if (!server) {
        return make_error(Errc::invalid_argument, kServerMissing,
                          "no server given: use --server URL, set UNIDESK_SERVER, or put "
                          "server = \"URL\" in " +
                              (path.empty() ? std::string("the config file") : path));
    }
    while (server->size() > 1 && server->back() == '/') {
        server->pop_back();
    }

    auto token = first_of(flags.token, env("UNIDESK_TOKEN"), file->token);
    return Settings{std::move(*server), token.value_or("")};
}

}  // namespace unidesk::cli
