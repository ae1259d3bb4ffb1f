#include "app.hpp"

#include "exit_codes.hpp"

#include <algorithm>
#include <exception>
#include <ostream>
#include <sstream>

namespace unidesk::cli {

namespace {

const std::vector<Command>& all_commands() {
    static const std::vector<Command> kCommands = [] {
        std::vector<Command> all;
        for (auto group : {health_commands(), account_commands(), node_commands(), task_commands(),
                           storage_commands()}) {
            all.insert(all.end(), group.begin(), group.end());
        }
        return all;
    }();
    return kCommands;
}

//! Options every command takes.
bool is_common_option(const std::string& name) {
    static const std::vector<std::string> kCommon{"server", "token", "config",
                                                  "json",   "utc",   "help"};
    return std::find(kCommon.begin(), kCommon.end(), name) != kCommon.end();
}

std::string command_line(const Command& c) {
    std::string line;
    for (const auto& w : c.words) {
        line += (line.empty() ? "" : " ") + w;
    }
    for (const auto& a : c.args) {
        line += " " + a;
    }
    if (!c.usage_tail.empty()) {
        line += " " + c.usage_tail;
    }
    return line;
}

//! The command whose words begin the invocation's words; the longest match wins.
const Command* find_command(const Invocation& inv) {
    const Command* best = nullptr;
    for (const auto& c : all_commands()) {
        const bool matches = inv.words.size() >= c.words.size() &&
                             std::equal(c.words.begin(), c.words.end(), inv.words.begin());
        if (matches && (best == nullptr || c.words.size() > best->words.size())) {
            best = &c;
        }
    }
    return best;
}

//! Where the command's arguments end: at `--` for a command that takes a tail, else at the end.
std::size_t args_end(const Command& c, const Invocation& inv) {
    const auto dashes = inv.words_before_dashes;
    if (c.takes_tail && dashes && *dashes >= c.words.size()) {
        return *dashes;
    }
    return inv.words.size();
}

Result<void> check_invocation(const Command& c, const Invocation& inv) {
    const std::size_t given = args_end(c, inv) - c.words.size();
    // Arguments written "[NAME]" may be left out.
    const auto required = static_cast<std::size_t>(std::count_if(
        c.args.begin(), c.args.end(), [](const std::string& a) { return a.rfind('[', 0) != 0; }));
    if (given < required || given > c.args.size()) {
        return usage_error("usage: unidesk " + command_line(c));
    }
    for (const auto& name : inv.option_names()) {
        const bool own = std::find(c.options.begin(), c.options.end(), name) != c.options.end();
        if (!own && !is_common_option(name)) {
            return usage_error("option --" + name + " does not apply to '" + command_line(c) + "'");
        }
    }
    return {};
}

Result<int> dispatch(const Invocation& inv, Io& io, const EnvLookup& env) {
    const Command* command = find_command(inv);
    if (command == nullptr) {
        const std::string what =
            inv.words.empty() ? "no command given" : "unknown command '" + inv.words[0] + "'";
        return usage_error(what + "; see unidesk --help");
    }
    if (auto ok = check_invocation(*command, inv); !ok) {
        return ok.error();
    }

    auto settings =
        resolve_settings({inv.value("server"), inv.value("token"), inv.value("config")}, env);
    if (!settings) {
        return settings.error();
    }
    Client client(*settings);
    const auto end = inv.words.begin() + static_cast<std::ptrdiff_t>(args_end(*command, inv));
    CommandContext ctx{client,
                       inv,
                       std::vector<std::string>(inv.words.begin() + command->words.size(), end),
                       io,
                       inv.has("json"),
                       inv.has("utc"),
                       std::vector<std::string>(end, inv.words.end())};
    return command->run(ctx);
}

}  // namespace

std::string usage_text() {
    std::ostringstream out;
    out << "usage: unidesk [options] COMMAND [ARGS]\n\ncommands:\n";
    for (const auto& c : all_commands()) {
        out << "  " << command_line(c) << "\n      " << c.summary << '\n';
    }
    out << "\noptions (any command):\n"
           "  --server URL     the server (else UNIDESK_SERVER, else `server` in the config)\n"
           "  --token TOKEN    the API token (else UNIDESK_TOKEN, else `token` in the config)\n"
           "  --config FILE    the config file (default ~/.config/unidesk/cli.toml)\n"
           "  --json           print the server's JSON as it came\n"
           "  --utc            show times in UTC instead of Beijing time (+08:00)\n"
           "\nexit codes: 0 ok, 1 refused or not healthy, 2 usage, 3 not signed in or not\n"
           "allowed, 4 not found, 5 server unreachable or unavailable; a task followed to its\n"
           "end (submit --wait, logs -f): 0 succeeded, 6 failed, 7 cancelled, 8 lost\n";
    return out.str();
}

int run_cli(const std::vector<std::string>& args, Io& io, const EnvLookup& env) {
    auto inv = parse_args(args);
    if (inv && inv->has("version")) {
        io.out << "unidesk " << UNIDESK_VERSION << '\n';
        return kExitOk;
    }
    if (inv && (inv->has("help") || (inv->words.size() == 1 && inv->words[0] == "help"))) {
        io.out << usage_text();
        return kExitOk;
    }

    Result<int> result = inv ? Result<int>(0) : Result<int>(inv.error());
    if (inv) {
        try {
            result = dispatch(*inv, io, env);
        } catch (const std::exception& e) {
            // Only a server answer of an unexpected shape gets here (a JSON type mismatch).
            result =
                make_error(Errc::internal, "unexpected_answer",
                           std::string("the server's answer has an unexpected shape: ") + e.what());
        }
    }
    if (result) {
        return *result;
    }
    io.err << "unidesk: " << result.error().message << " (" << result.error().code << ")\n";
    return exit_code_for(result.error());
}

}  // namespace unidesk::cli
