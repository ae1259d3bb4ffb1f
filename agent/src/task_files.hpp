#pragma once

// A task's files on the node: inputs downloaded from presigned URLs into the workspace before
// the command, outputs uploaded after it through the attempt's capability URL, which answers
// with one presigned PUT URL per file, or for a file above 64 MiB runs a multipart upload whose
// part URLs are asked for one at a time (docs/reference/provider-protocol.md, Inputs and
// outputs). Network errors and 5xx answers are retried (3 tries, 1 s then 4 s apart); a
// download whose size or SHA-256 differs from what the server said fails.
//
// Blocking; runs on the attempt's own thread. Errors: `input_fetch_failed` and
// `output_upload_failed` (Errc::unavailable) with the reason in the message.

#include "unidesk/protocol/messages.hpp"
#include "unidesk/result.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace unidesk::agent {

//! Where progress lines go (the task's log, as the agent's own stream).
using FileLog = std::function<void(const std::string& line)>;

//! Downloads every input to its path under `workspace`, each whole or not at all.
Result<void> fetch_inputs(const std::vector<protocol::TaskInput>& inputs,
                          const std::filesystem::path& workspace, const FileLog& log);

//! Uploads every regular file under each output folder (symbolic links are skipped, so that a
//! task cannot send the node's own files). A missing folder uploads nothing. Returns the keys
//! written.
Result<std::vector<std::string>> upload_outputs(const std::vector<protocol::TaskOutput>& outputs,
                                                const std::filesystem::path& workspace,
                                                const FileLog& log);

}  // namespace unidesk::agent
