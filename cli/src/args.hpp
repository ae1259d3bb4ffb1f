#pragma once

// The command line split into words and options, before any command looks at it. Options may
// stand anywhere (`unidesk --json users` and `unidesk users --json` are the same), as
// `--name value` or `--name=value`; `--` ends the options. A few options may be given more
// than once (`--env A=1 --env B=2`); `-f` is `--follow`. Pure functions; thread-safe.

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
    std::map<std::string, std::vector<std::string>> lists;  // repeatable ones, in given order
    //! How many words came before `--`; unset when there was none. `submit` takes the words
    //! after it as the task's command.
    std::optional<std::size_t> words_before_dashes;

    bool has(const std::string& name) const { return switches.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    //! Every value of a repeatable option, in the order given; empty when it was not given.
    std::vector<std::string> values_of(const std::string& name) const;
    //! Every option given, by name, for checking against what a command accepts.
    std::vector<std::string> option_names() const;
};

//! Options that take a value; every other known option is a switch.
const std::set<std::string>& value_options();
//! Options that take a value and may be given more than once.
const std::set<std::string>& list_options();
const std::set<std::string>& switch_options();

//! Errors: `usage` for an unknown option, a value option without its value, a value given to
//! a switch, or an option that is not repeatable given twice.
Result<Invocation> parse_args(const std::vector<std::string>& args);

}  // namespace unidesk::cli
