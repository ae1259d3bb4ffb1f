#pragma once

// What `unidesk submit --from-checkout DIR` learns from a local git checkout, through libgit2:
// the URL a node can fetch the code from and the commit to run. A node runs exactly that
// commit, never the files on disk, so a checkout with uncommitted changes is refused: the
// task would not run what the person sees. Blocks on the disk; call from the command's thread.

#include "task_spec.hpp"
#include "unidesk/result.hpp"

#include <string>
#include <vector>

namespace unidesk::cli {

struct Checkout {
    CodeSource code;          // the remote's URL and HEAD's commit id
    std::string remote_name;  // `origin`, or the checkout's only remote
    //! True when a remote-tracking branch (as of the last fetch) holds HEAD; otherwise a node
    //! may not be able to fetch the commit.
    bool head_on_remote = false;
};

//! Errors, all `usage` (exit 2), each saying what to do: DIR is not in a git checkout; HEAD
//! has no commit yet; the checkout has modified, staged or untracked files that are not
//! ignored (the first few are named); it has no remote, or several and none called `origin`.
Result<Checkout> inspect_checkout(const std::string& dir);

}  // namespace unidesk::cli
