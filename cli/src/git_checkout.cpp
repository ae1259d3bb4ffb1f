#include "git_checkout.hpp"

#include "command.hpp"

#include <git2.h>

#include <memory>

namespace unidesk::cli {

namespace {

// More would flood the terminal; the person runs `git status` for the whole list.
constexpr std::size_t kDirtyPathsShown = 5;

void init_libgit2() {
    static const bool done = [] {
        git_libgit2_init();
        return true;
    }();
    (void)done;
}

struct GitFree {
    void operator()(git_repository* p) const { git_repository_free(p); }
    void operator()(git_remote* p) const { git_remote_free(p); }
    void operator()(git_status_list* p) const { git_status_list_free(p); }
    void operator()(git_branch_iterator* p) const { git_branch_iterator_free(p); }
    void operator()(git_reference* p) const { git_reference_free(p); }
    void operator()(git_strarray* p) const { git_strarray_dispose(p); }
};
template <class T>
using GitPtr = std::unique_ptr<T, GitFree>;

std::string git_message() {
    const git_error* e = git_error_last();
    return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

Error refused(const std::string& dir, const std::string& why) {
    return usage_error("--from-checkout " + dir + ": " + why);
}

std::string entry_path(const git_status_entry* e) {
    for (const git_diff_delta* d : {e->index_to_workdir, e->head_to_index}) {
        if (d != nullptr && d->new_file.path != nullptr) {
            return d->new_file.path;
        }
        if (d != nullptr && d->old_file.path != nullptr) {
            return d->old_file.path;
        }
    }
    return "?";
}

//! Nothing when the working tree and the index match HEAD (ignored files aside).
Result<void> check_clean(git_repository* repo, const std::string& dir) {
    git_status_options opts = GIT_STATUS_OPTIONS_INIT;
    opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
    git_status_list* raw = nullptr;
    if (git_status_list_new(&raw, repo, &opts) != 0) {
        return refused(dir, "cannot read its status: " + git_message());
    }
    GitPtr<git_status_list> list(raw);

    const std::size_t count = git_status_list_entrycount(list.get());
    if (count == 0) {
        return {};
    }
    std::string paths;
    for (std::size_t i = 0; i < count && i < kDirtyPathsShown; ++i) {
        paths += (i == 0 ? "" : ", ") + entry_path(git_status_byindex(list.get(), i));
    }
    if (count > kDirtyPathsShown) {
        paths += " and " + std::to_string(count - kDirtyPathsShown) + " more";
    }
    return refused(dir, "the checkout has uncommitted changes (" + paths +
                            "); a node runs only the commit, so commit or stash them first");
}

//! `origin`, else the only remote.
Result<std::string> pick_remote(git_repository* repo, const std::string& dir) {
    git_strarray names{};
    if (git_remote_list(&names, repo) != 0) {
        return refused(dir, "cannot list its remotes: " + git_message());
    }
    GitPtr<git_strarray> owned(&names);

    if (names.count == 0) {
        return refused(dir,
                       "the checkout has no remote a node could fetch from; add one with "
                       "`git remote add origin URL` and push");
    }
    for (std::size_t i = 0; i < names.count; ++i) {
        if (std::string(names.strings[i]) == "origin") {
            return std::string("origin");
        }
    }
    if (names.count == 1) {
        return std::string(names.strings[0]);
    }
    return refused(dir,
                   "the checkout has several remotes and none is called origin; give "
                   "--code-repo and --code-commit instead");
}

//! Whether some remote-tracking branch points at `head` or at a descendant of it.
bool on_remote_branch(git_repository* repo, const git_oid& head) {
    git_branch_iterator* raw = nullptr;
    if (git_branch_iterator_new(&raw, repo, GIT_BRANCH_REMOTE) != 0) {
        return false;
    }
    GitPtr<git_branch_iterator> it(raw);

    git_reference* ref = nullptr;
    git_branch_t type{};
    while (git_branch_next(&ref, &type, it.get()) == 0) {
        GitPtr<git_reference> owned(ref);
        git_reference* resolved_raw = nullptr;
        // refs/remotes/origin/HEAD is symbolic; the branch it names is checked on its own.
        if (git_reference_resolve(&resolved_raw, ref) != 0) {
            continue;
        }
        GitPtr<git_reference> resolved(resolved_raw);
        const git_oid* tip = git_reference_target(resolved.get());
        if (tip == nullptr) {
            continue;
        }
        if (git_oid_equal(tip, &head) || git_graph_descendant_of(repo, tip, &head) == 1) {
            return true;
        }
    }
    return false;
}

}  // namespace

Result<Checkout> inspect_checkout(const std::string& dir) {
    init_libgit2();
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, dir.c_str(), 0, nullptr) != 0) {
        return refused(dir, "not a git checkout (" + git_message() + ")");
    }
    GitPtr<git_repository> repo(raw);
    if (git_repository_is_bare(repo.get())) {
        return refused(dir, "a bare repository has no checkout to read");
    }

    git_oid head{};
    if (git_reference_name_to_id(&head, repo.get(), "HEAD") != 0) {
        return refused(dir, "HEAD has no commit yet");
    }
    if (auto clean = check_clean(repo.get(), dir); !clean) {
        return clean.error();
    }

    auto remote_name = pick_remote(repo.get(), dir);
    if (!remote_name) {
        return remote_name.error();
    }
    git_remote* remote_raw = nullptr;
    if (git_remote_lookup(&remote_raw, repo.get(), remote_name->c_str()) != 0) {
        return refused(dir, "cannot read remote " + *remote_name + ": " + git_message());
    }
    GitPtr<git_remote> remote(remote_raw);
    const char* url = git_remote_url(remote.get());
    if (url == nullptr || *url == '\0') {
        return refused(dir, "remote " + *remote_name + " has no URL");
    }

    Checkout out;
    out.code.repo_url = url;
    out.code.commit_id = git_oid_tostr_s(&head);
    out.remote_name = *remote_name;
    out.head_on_remote = on_remote_branch(repo.get(), head);
    return out;
}

}  // namespace unidesk::cli
