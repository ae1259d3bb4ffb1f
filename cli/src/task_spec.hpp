#pragma once

// `unidesk submit`'s options turned into a TaskSpec, the body of `POST /v1/tasks`
// (docs/reference/rest-api.md, "Tasks"). What can be checked without the server is checked
// here, so that a typo costs no round trip and no queued task: commit ids, sizes, durations,
// numbers, `K=V` pairs and the required fields. Every error is a `usage` error (exit 2) that
// names the option. Pure functions; thread-safe.

#include "args.hpp"
#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace unidesk::cli {

//! The code of a task when it comes from a local checkout rather than from options.
struct CodeSource {
    std::string repo_url;
    std::string commit_id;
};

//! 40 lower-case hex digits, the only form the server takes.
bool is_commit_id(std::string_view s) noexcept;

//! Bytes: "1073741824", or a whole number with a binary suffix K, M, G or T (either case):
//! "512M" is 536870912. Errors name `option`.
Result<std::int64_t> parse_size(std::string_view text, std::string_view option);

//! Seconds: "45", or whole numbers each with a suffix s, m, h or d, one or more of them:
//! "90m" and "1h30m" are 5400.
Result<std::int64_t> parse_duration(std::string_view text, std::string_view option);

//! CPU cores as a decimal with at most three places, in thousandths: "1.5" is 1500.
Result<std::int64_t> parse_cpu_millis(std::string_view text, std::string_view option);

//! A whole number from min to max, with an optional leading minus.
Result<std::int64_t> parse_integer(std::string_view text, std::string_view option, std::int64_t min,
                                   std::int64_t max);

//! "KEY=VALUE" pairs into a JSON object of strings. The key is not empty and holds no '=';
//! the value may be empty or hold '='. A key given twice is an error.
Result<nlohmann::json> parse_pairs(const std::vector<std::string>& pairs, std::string_view option);

//! The TaskSpec for the options of `inv` and the task's argv (`command`, empty for the image's
//! own). `code`, when set, stands for --code-repo and --code-commit, which must then be absent.
//! Only the fields given are sent, so the server's defaults apply to the rest.
Result<nlohmann::json> build_task_spec(const Invocation& inv,
                                       const std::vector<std::string>& command,
                                       const std::optional<CodeSource>& code);

}  // namespace unidesk::cli
