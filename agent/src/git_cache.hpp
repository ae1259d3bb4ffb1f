#pragma once

// The node's cache of task repositories: one bare repository per remote URL under a root folder
// (the agent uses `<work_dir>/git`), shared by every task that runs on the node. A task names a
// URL and an exact commit; the cache fetches that one commit by id (never the whole remote) and
// writes its tree into the task's folder or into a tar file used as a Docker build context.
//
// Threads and processes: every call blocks (libgit2, network, disk). Call from any thread but
// the network thread. A GitCache holds only its settings, so any number of threads may share
// one, and several GitCache objects or agent processes may use the same root at once. Work on
// one repository is serialized by an flock(2) on `<root>/<repo>.lock`: exclusive while
// checking, fetching or rebuilding, shared while writing a tree out. The kernel drops an flock
// when its holder dies, so a crashed process never leaves a repository locked. A caller waits
// for the lock without a time limit.
//
// Damage: a repository that does not open, or whose objects cannot be read, is removed and
// fetched again, once per call, before the call fails.
//
// Errors: `invalid_argument` with code `invalid_commit` (not 40 lowercase hex digits) or
// `invalid_url` (an unsupported scheme, or a password in the URL: credentials come only from the
// agent's config); `git_fetch_failed` (Errc::unavailable) for a remote that cannot be reached,
// refuses the credential, or does not have the commit, with libgit2's message included;
// `git_cache_failed` (Errc::internal) when the cache folder itself cannot be used, and
// `git_checkout_failed` when the destination cannot be written (Errc::internal) or is not empty,
// or the tree holds a path that is unsafe to write (`..`, `.git`; Errc::invalid_argument).

#include "agent_config.hpp"

#include "unidesk/result.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace unidesk::agent {

//! What ensure_commit did.
struct FetchInfo {
    bool fetched = false;  // false: the commit was already in the cache; no network was used
    bool rebuilt = false;  // the cache repository was damaged and was made again
    std::chrono::milliseconds duration{0};  // of the whole call, waiting for the lock included
};

struct GitCacheOptions {
    std::filesystem::path root;  // created if missing
    std::vector<GitCredential> credentials;
    // file:// URLs and plain paths would let a task read any repository on the node's disks;
    // only tests turn them on.
    bool allow_local_remotes = false;
};

//! Owned by the agent (one per process, or one per caller: they share nothing in memory).
class GitCache {
public:
    explicit GitCache(GitCacheOptions options);

    //! Makes sure `commit` is in the cache repository of `url`. A commit already present costs
    //! no network at all; a missing one is fetched by id with the credential configured for the
    //! URL's host.
    Result<FetchInfo> ensure_commit(const std::string& url, const std::string& commit);

    //! Writes the tree of `commit` into `dest` (created if missing; it must be empty): regular
    //! files with their executable bit, symbolic links as links, submodules as empty folders.
    //! Content is written as stored, without .gitattributes filters. Calls ensure_commit first.
    //! On failure `dest` may hold part of the tree.
    Result<void> checkout(const std::string& url, const std::string& commit,
                          const std::filesystem::path& dest);

    //! Writes the tree of `commit` as an uncompressed tar file (pax format) with the same modes
    //! and links, owned by 0:0 and dated at the commit's time. Replaces `tar_file` if it exists,
    //! and removes it on failure. Calls ensure_commit first.
    Result<void> write_tar(const std::string& url, const std::string& commit,
                           const std::filesystem::path& tar_file);

    //! The folder of the cache repository for `url` (it may not exist yet).
    std::filesystem::path repository_path(const std::string& url) const;

private:
    GitCacheOptions options_;
};

//! The host of a repository URL (https://, http://, ssh://, git:// or scp-like user@host:path),
//! lower case, without user or port; empty for file:// URLs and paths.
std::string git_url_host(const std::string& url);

}  // namespace unidesk::agent
