#pragma once

// What every `unidesk` command is made of, and the helpers they share to print. A command is
// a row in a table (its words, arguments, options and a function), so that dispatch, help and
// option checks live in one place (app.cpp). Commands run on the main thread, one per process.

#include "args.hpp"
#include "client.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace unidesk::cli {

//! The process's streams, and a way to ask a person for a secret (tests replace both).
struct Io {
    std::istream& in;
    std::ostream& out;
    std::ostream& err;
    //! Asks for a secret on the terminal without echoing it; fails when there is no terminal.
    std::function<Result<std::string>(const std::string& prompt)> prompt_secret;
};

struct CommandContext {
    Client& client;
    const Invocation& inv;
    std::vector<std::string> args;  // the words after the command's own words
    Io& io;
    bool json = false;  // print the server's JSON as it came
    bool utc = false;   // show times in UTC as the server sent them
    //! The words after `--`, for a command that takes a command line of its own (`submit`).
    std::vector<std::string> tail;
};

struct Command {
    std::vector<std::string> words;    // {"user", "create"}
    std::vector<std::string> args;     // names of the positional arguments, for help: {"NAME"}
    std::vector<std::string> options;  // options beyond the common ones: {"role"}
    std::string usage_tail;            // shown after the arguments in help: "--role R"
    std::string summary;
    //! An exit code, or an error that app.cpp prints and maps to one.
    std::function<Result<int>(CommandContext&)> run;
    //! The words after `--` go to CommandContext::tail instead of the arguments.
    bool takes_tail = false;
};

std::vector<Command> health_commands();
std::vector<Command> account_commands();
std::vector<Command> node_commands();
std::vector<Command> task_commands();
std::vector<Command> storage_commands();

// Shared by the commands.

//! Prints the body exactly as the server sent it, with a final newline.
void print_raw(std::ostream& out, const Answer& answer);

//! A JSON value as a table cell: strings as they are, numbers and booleans as text, null or
//! missing as "" (which the table shows as "-").
std::string cell(const nlohmann::json& obj, const char* key);

//! 1073741824 -> "1.0 GiB"; 0 or missing -> "".
std::string human_bytes(const nlohmann::json& value);

//! The array under `key` in a 2xx answer, or an error saying the answer has an odd shape.
Result<nlohmann::json> array_field(const Answer& answer, const char* key);
//! The object under `key`, or the answer itself when it has no such key.
nlohmann::json object_field(const Answer& answer, const char* key);

Error usage_error(std::string message);

//! Whether `s` is a number of decimal digits (an id), not empty.
bool all_digits(const std::string& s);
//! The command's first argument as the id of a `what` (task, token ...), or a usage error.
Result<std::string> id_arg(const CommandContext& ctx, const std::string& what);

//! Calls the server; with --json prints the answer as it came, otherwise hands it to `show`.
//! The exit code is kExitOk once the answer is shown; a failed call returns its error.
Result<int> call_and_show(CommandContext& ctx, std::string_view method, const std::string& path,
                          const std::optional<nlohmann::json>& body,
                          const std::function<void(const Answer&)>& show);

//! GETs `path` and prints the list under `key` as a table with one row per item (or, with
//! --json, the answer as it came).
Result<int> show_list(CommandContext& ctx, const std::string& path, const char* key,
                      std::vector<std::string> headers,
                      const std::function<std::vector<std::string>(const nlohmann::json&)>& row);

}  // namespace unidesk::cli
