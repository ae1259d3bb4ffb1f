#pragma once

// The command line split into words and options, before any command looks at it. Options may
// stand anywhere (`unidesk --json users` and `unidesk users --json` are the same), as
// `--name value` or `--name=value`; `--` ends the options. Pure functions; thread-safe.

#include "unidesk/result.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace unidesk::cli {

struct Invocation {
    std::vector<std::string> words;             // command words and their arguments, in order
    std::map<std::string, std::string> values;  // options with a value: "server" -> "http://..."
    std::set<std::string> switches;             // options without one: "json", "utc" ...

    bool has(const std::string& name) const { return switches.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    //! Every option given, by name, for checking against what a command accepts.
    std::vector<std::string> option_names() const;
};

//! Options that take a value; every other known option is a switch.
const std::set<std::string>& value_options();
const std::set<std::string>& switch_options();

//! Errors: `usage` for an unknown option, a value option without its value, a value given to
//! a switch, or an option given twice.
Result<Invocation> parse_args(const std::vector<std::string>& args);

}  // namespace unidesk::cli
