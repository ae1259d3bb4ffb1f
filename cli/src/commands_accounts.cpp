// Users, API tokens and node tokens: /v1/whoami, /v1/users, /v1/tokens, /v1/node-tokens.

#include "command.hpp"
#include "exit_codes.hpp"
#include "time_format.hpp"

#include <istream>
#include <ostream>

namespace unidesk::cli {

namespace {

//! The one place a secret is printed: right after the server issued it.
void print_issued(CommandContext& ctx, const Answer& answer, const std::string& what) {
    const auto token = object_field(answer, "token");
    // The secret alone on standard output, so that `SECRET=$(unidesk token create ci)` works.
    ctx.io.err << "issued " << what << " id=" << cell(token, "id") << '\n';
    ctx.io.out << cell(answer.json, "secret") << '\n';
    ctx.io.err << "the secret is shown only now; the server keeps only its hash\n";
}

Result<int> whoami(CommandContext& ctx) {
    return call_and_show(ctx, "GET", "/v1/whoami", std::nullopt, [&ctx](const Answer& answer) {
        const auto user = object_field(answer, "user");
        ctx.io.out << cell(user, "name") << " (" << cell(user, "role") << ")  user id "
                   << cell(user, "id");
        if (const auto token_id = cell(answer.json, "token_id");
            !token_id.empty() && token_id != "0") {
            ctx.io.out << ", token id " << token_id;
        }
        ctx.io.out << '\n';
    });
}

Result<int> users(CommandContext& ctx) {
    return show_list(ctx, "/v1/users", "users", {"ID", "NAME", "ROLE", "DISABLED", "CREATED"},
                     [&ctx](const nlohmann::json& u) -> std::vector<std::string> {
                         return {cell(u, "id"), cell(u, "name"), cell(u, "role"),
                                 cell(u, "disabled"), time_cell(u, "created_at", ctx.utc)};
                     });
}

Result<std::string> read_new_password(CommandContext& ctx, const std::string& user) {
    if (ctx.inv.has("password-stdin")) {
        std::string line;
        std::getline(ctx.io.in, line);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.empty()) {
            return usage_error("--password-stdin: no password on standard input");
        }
        return line;
    }

    auto first = ctx.io.prompt_secret("password for " + user + ": ");
    if (!first) {
        return first.error();
    }
    auto again = ctx.io.prompt_secret("again: ");
    if (!again) {
        return again.error();
    }
    if (*first != *again) {
        return usage_error("the two passwords differ");
    }
    return first;
}

Result<int> user_create(CommandContext& ctx) {
    const auto role = ctx.inv.value("role");
    if (!role) {
        return usage_error("user create needs --role viewer|member|admin");
    }
    const std::string& name = ctx.args[0];
    auto password = read_new_password(ctx, name);
    if (!password) {
        return password.error();
    }

    const nlohmann::json body{{"name", name}, {"role", *role}, {"password", *password}};
    return call_and_show(ctx, "POST", "/v1/users", body, [&ctx](const Answer& answer) {
        const auto user = object_field(answer, "user");
        ctx.io.out << "created user " << cell(user, "name") << " id=" << cell(user, "id")
                   << " role=" << cell(user, "role") << '\n';
    });
}

//! A user id: the argument itself when it is a number, else looked up by name.
Result<std::string> resolve_user_id(CommandContext& ctx, const std::string& name_or_id) {
    if (all_digits(name_or_id)) {
        return name_or_id;
    }
    auto answer = ctx.client.call("GET", "/v1/users");
    if (!answer) {
        return answer.error();
    }
    auto list = array_field(*answer, "users");
    if (!list) {
        return list.error();
    }
    for (const auto& u : *list) {
        if (cell(u, "name") == name_or_id) {
            return cell(u, "id");
        }
    }
    return make_error(Errc::not_found, "user_not_found", "no user named '" + name_or_id + "'");
}

Result<int> user_set_role(CommandContext& ctx) {
    auto id = resolve_user_id(ctx, ctx.args[0]);
    if (!id) {
        return id.error();
    }
    return call_and_show(ctx, "PATCH", "/v1/users/" + *id, nlohmann::json{{"role", ctx.args[1]}},
                         [&ctx](const Answer& answer) {
                             const auto user = object_field(answer, "user");
                             ctx.io.out << "user " << cell(user, "name")
                                        << " id=" << cell(user, "id")
                                        << " role=" << cell(user, "role") << '\n';
                         });
}

Result<int> tokens(CommandContext& ctx) {
    return show_list(ctx, ctx.inv.has("all") ? "/v1/tokens?all=1" : "/v1/tokens", "tokens",
                     {"ID", "NAME", "USER ID", "CREATED", "LAST USED", "REVOKED"},
                     [&ctx](const nlohmann::json& t) -> std::vector<std::string> {
                         return {cell(t, "id"),
                                 cell(t, "name"),
                                 cell(t, "user_id"),
                                 time_cell(t, "created_at", ctx.utc),
                                 time_cell(t, "last_used_at", ctx.utc),
                                 time_cell(t, "revoked_at", ctx.utc)};
                     });
}

Result<int> token_create(CommandContext& ctx) {
    return call_and_show(ctx, "POST", "/v1/tokens", nlohmann::json{{"name", ctx.args[0]}},
                         [&ctx](const Answer& answer) {
                             print_issued(ctx, answer, "API token '" + ctx.args[0] + "'");
                         });
}

Result<int> revoke(CommandContext& ctx, const std::string& collection, const char* name_key) {
    auto id = id_arg(ctx, "token");
    if (!id) {
        return id.error();
    }
    return call_and_show(
        ctx, "DELETE", collection + "/" + *id, std::nullopt, [&](const Answer& answer) {
            const auto token = object_field(answer, "token");
            ctx.io.out << "revoked token id=" << *id << " (" << cell(token, name_key) << ")\n";
        });
}

Result<int> node_token_create(CommandContext& ctx) {
    return call_and_show(ctx, "POST", "/v1/node-tokens", nlohmann::json{{"node_name", ctx.args[0]}},
                         [&ctx](const Answer& answer) {
                             print_issued(ctx, answer, "node token for node '" + ctx.args[0] + "'");
                         });
}

Result<int> node_token_list(CommandContext& ctx) {
    return show_list(
        ctx, "/v1/node-tokens", "node_tokens", {"ID", "NODE", "CREATED", "LAST USED", "REVOKED"},
        [&ctx](const nlohmann::json& t) -> std::vector<std::string> {
            return {cell(t, "id"), cell(t, "node_name"), time_cell(t, "created_at", ctx.utc),
                    time_cell(t, "last_used_at", ctx.utc), time_cell(t, "revoked_at", ctx.utc)};
        });
}

}  // namespace

std::vector<Command> account_commands() {
    return {
        {{"whoami"}, {}, {}, "", "show who the token belongs to", whoami},
        {{"users"}, {}, {}, "", "list users (admin)", users},
        {{"user", "create"},
         {"NAME"},
         {"role", "password-stdin"},
         "--role viewer|member|admin [--password-stdin]",
         "create a user (admin); the password is asked for, or read from standard input",
         user_create},
        {{"user", "set-role"},
         {"NAME|ID", "ROLE"},
         {},
         "",
         "change a user's role (admin)",
         user_set_role},
        {{"tokens"},
         {},
         {"all"},
         "[--all]",
         "list your API tokens (--all: everyone's, admin)",
         tokens},
        {{"token", "create"},
         {"NAME"},
         {},
         "",
         "issue an API token; its secret is shown once",
         token_create},
        {{"token", "revoke"},
         {"ID"},
         {},
         "",
         "revoke an API token",
         [](CommandContext& ctx) { return revoke(ctx, "/v1/tokens", "name"); }},
        {{"node-token", "create"},
         {"NODE"},
         {},
         "",
         "issue a token for a compute node's agent (admin); its secret is shown once",
         node_token_create},
        {{"node-token", "list"}, {}, {}, "", "list node tokens (admin)", node_token_list},
        {{"node-token", "revoke"},
         {"ID"},
         {},
         "",
         "revoke a node token; its node's session is closed (admin)",
         [](CommandContext& ctx) { return revoke(ctx, "/v1/node-tokens", "node_name"); }},
    };
}

}  // namespace unidesk::cli
