#include "git_cache.hpp"

#include "agent_logging.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <git2.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

namespace unidesk::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Internal code of a repository whose objects or files cannot be read; never returned to callers.
const char* const kDamaged = "git_cache_damaged";

std::shared_ptr<spdlog::logger> git_log() {
    static const auto logger = get_logger("agent.git");
    return logger;
}

void init_libgit2() {
    // The cache folder may belong to another user than the agent (a root agent on a folder
    // made by an installer); libgit2 would then refuse it with a misleading safe.directory error.
    static const bool done = [] {
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
        return true;
    }();
    (void)done;
}

struct GitFree {
    void operator()(git_repository* p) const { git_repository_free(p); }
    void operator()(git_remote* p) const { git_remote_free(p); }
    void operator()(git_commit* p) const { git_commit_free(p); }
    void operator()(git_tree* p) const { git_tree_free(p); }
    void operator()(git_blob* p) const { git_blob_free(p); }
    void operator()(git_odb* p) const { git_odb_free(p); }
    void operator()(git_reference_iterator* p) const { git_reference_iterator_free(p); }
};
template <class T>
using GitPtr = std::unique_ptr<T, GitFree>;

std::string git_message() {
    const git_error* e = git_error_last();
    return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

int git_error_class() {
    const git_error* e = git_error_last();
    return e != nullptr ? e->klass : GIT_ERROR_NONE;
}

Error damaged(const std::string& what) {
    return make_error(Errc::internal, kDamaged, what + ": " + git_message());
}

Error fetch_failed(std::string message) {
    return make_error(Errc::unavailable, "git_fetch_failed", std::move(message));
}

Error cache_failed(std::string message) {
    return make_error(Errc::internal, "git_cache_failed", std::move(message));
}

Error checkout_failed(const fs::path& path, const std::string& what, int err) {
    return make_error(Errc::internal, "git_checkout_failed",
                      what + " " + path.string() + ": " + std::strerror(err));
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

struct UrlParts {
    std::string scheme;  // "ssh" for scp-like URLs, "file" for plain paths
    std::string host;
    std::string port;
    std::string rest;  // what follows the host
};

UrlParts parse_url(const std::string& url) {
    UrlParts u;
    std::string authority;
    const auto sep = url.find("://");
    const auto first_colon = url.find(':');
    const auto first_slash = url.find('/');
    if (sep != std::string::npos) {
        u.scheme = lower(url.substr(0, sep));
        const auto start = sep + 3;
        const auto end = url.find('/', start);
        authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
        u.rest = end == std::string::npos ? "" : url.substr(end);
    } else if (first_colon != std::string::npos && first_colon > 0 &&
               (first_slash == std::string::npos || first_colon < first_slash)) {
        u.scheme = "ssh";
        u.rest = url.substr(first_colon + 1);
        authority = url.substr(0, first_colon);
    } else {
        u.scheme = "file";
        u.rest = url;
        return u;
    }

    if (const auto at = authority.rfind('@'); at != std::string::npos) {
        authority = authority.substr(at + 1);
    }
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        u.host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
        if (close != std::string::npos && close + 1 < authority.size() &&
            authority[close + 1] == ':') {
            u.port = authority.substr(close + 2);
        }
    } else if (const auto colon = authority.find(':'); colon != std::string::npos) {
        u.host = authority.substr(0, colon);
        u.port = authority.substr(colon + 1);
    } else {
        u.host = authority;
    }
    u.host = lower(u.host);
    return u;
}

// The URL without any user name or password, for logs and messages.
std::string redact(const std::string& url) {
    const auto sep = url.find("://");
    if (sep == std::string::npos) {
        return url;
    }
    const auto end = url.find('/', sep + 3);
    const auto at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at == std::string::npos || at < sep) {
        return url;
    }
    return url.substr(0, sep + 3) + url.substr(at + 1);
}

// A `user:password@` part in the URL: a credential the task would bring with it.
bool has_password(const std::string& url) {
    const auto sep = url.find("://");
    if (sep == std::string::npos) {
        return false;
    }
    const auto end = url.find('/', sep + 3);
    const std::string authority =
        url.substr(sep + 3, end == std::string::npos ? end : end - sep - 3);
    const auto at = authority.rfind('@');
    return at != std::string::npos && authority.substr(0, at).find(':') != std::string::npos;
}

std::string sha256_hex(const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

bool valid_commit(const std::string& commit) {
    return commit.size() == 40 && std::all_of(commit.begin(), commit.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// The flock(2) on a repository's lock file. Each object opens the file itself, so that two
// threads of one process exclude each other as two processes do.
class RepoLock {
public:
    RepoLock() = default;
    RepoLock(const RepoLock&) = delete;
    RepoLock& operator=(const RepoLock&) = delete;
    ~RepoLock() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }

    Result<void> open(const fs::path& path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            return cache_failed("cannot open lock file " + path.string() + ": " +
                                std::strerror(errno));
        }
        return {};
    }

    //! LOCK_EX or LOCK_SH; converts a lock already held.
    Result<void> lock(int operation) {
        while (::flock(fd_, operation) != 0) {
            if (errno != EINTR) {
                return cache_failed(std::string("cannot lock the git cache: ") +
                                    std::strerror(errno));
            }
        }
        return {};
    }

private:
    int fd_ = -1;
};

// One call's view of a repository: what it fetches, where the cache keeps it, how to log in.
struct Target {
    std::string url;
    std::string shown_url;  // without credentials
    std::string commit;
    git_oid oid{};
    UrlParts parts;
    fs::path repo_path;
    fs::path lock_path;
    const GitCredential* credential = nullptr;
};

struct AuthState {
    const GitCredential* credential = nullptr;
    int offered = 0;
    bool missing = false;     // the remote asked and no credential matches its host
    bool refused = false;     // the credential was offered and the remote asked again
    bool unsuitable = false;  // the credential has nothing of the kind the remote accepts
};

int on_credentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                   unsigned int allowed, void* payload) {
    auto* state = static_cast<AuthState*>(payload);
    if (state->credential == nullptr) {
        state->missing = true;
        git_error_set_str(GIT_ERROR_NET, "no credential configured for this host");
        return GIT_EAUTH;
    }
    const GitCredential& c = *state->credential;
    std::string user = c.username;
    if (user.empty() && username_from_url != nullptr) {
        user = username_from_url;
    }

    // Over ssh libgit2 first asks only for a user name; that is not a login attempt.
    if ((allowed & GIT_CREDENTIAL_USERNAME) != 0 &&
        (allowed & (GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_USERPASS_PLAINTEXT)) == 0) {
        return git_credential_username_new(out, user.empty() ? "git" : user.c_str());
    }

    // Offering the same credential again would loop until the server gives up.
    if (state->offered > 0) {
        state->refused = true;
        git_error_set_str(GIT_ERROR_NET, "the remote refused the credential");
        return GIT_EAUTH;
    }
    ++state->offered;

    if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0 && !c.ssh_key.empty()) {
        return git_credential_ssh_key_new(
            out, user.empty() ? "git" : user.c_str(),
            c.ssh_public_key.empty() ? nullptr : c.ssh_public_key.c_str(), c.ssh_key.c_str(),
            nullptr);
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && !c.token.empty()) {
        return git_credential_userpass_plaintext_new(
            out, user.empty() ? "x-access-token" : user.c_str(), c.token.c_str());
    }
    state->unsuitable = true;
    git_error_set_str(GIT_ERROR_NET, "the credential does not fit what the remote accepts");
    return GIT_EAUTH;
}

bool contains(const std::string& s, const char* part) {
    return s.find(part) != std::string::npos;
}

struct FetchFailure {
    std::string message;  // libgit2's
    int klass = GIT_ERROR_NONE;
    bool reachable = false;  // a second connection to the remote succeeded
};

bool network_class(int klass) {
    return klass == GIT_ERROR_NET || klass == GIT_ERROR_OS || klass == GIT_ERROR_SSL ||
           klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP;
}

Error describe_fetch_error(const Target& t, const AuthState& auth, const FetchFailure& f) {
    const std::string& msg = f.message;
    const std::string& host = t.parts.host;
    if (auth.missing) {
        return fetch_failed("authentication required by " + t.shown_url +
                            " and no [[git.credentials]] entry of the agent's config matches "
                            "host '" +
                            host + "'");
    }
    if (auth.refused) {
        return fetch_failed("authentication refused by " + t.shown_url +
                            ": the [[git.credentials]] entry for host '" + host +
                            "' was not accepted; check its username and token or key");
    }
    if (auth.unsuitable) {
        return fetch_failed("authentication failed for " + t.shown_url + ": the remote accepts " +
                            (t.parts.scheme == "ssh" ? "an ssh_key" : "a token") +
                            " and the [[git.credentials]] entry for host '" + host + "' has none");
    }
    if (contains(msg, "401") || contains(msg, "authentication") || contains(msg, "403")) {
        return fetch_failed("authentication refused by " + t.shown_url + ": " + msg);
    }
    if (contains(msg, "cannot fetch a specific object")) {
        return fetch_failed("the remote " + t.shown_url +
                            " does not allow fetching a commit by id (a git server needs "
                            "uploadpack.allowReachableSHA1InWant): " +
                            msg);
    }
    if (contains(msg, "not our ref") || contains(msg, "not found") || contains(msg, "no match") ||
        contains(msg, "not valid") || contains(msg, "doesn't exist")) {
        return fetch_failed("commit " + t.commit + " is not in the remote " + t.shown_url + ": " +
                            msg);
    }
    if (network_class(f.klass) && f.reachable) {
        // A server that refuses a want closes the connection while the request is still being
        // written, so libgit2 sees a broken pipe instead of the server's reason.
        return fetch_failed("commit " + t.commit + " is not in the remote " + t.shown_url +
                            ", or the server refused to send it (the remote answers, but closed "
                            "the fetch): " +
                            msg);
    }
    if (network_class(f.klass)) {
        return fetch_failed("cannot reach the remote " + t.shown_url + ": " + msg);
    }
    return fetch_failed("fetching commit " + t.commit + " from " + t.shown_url + " failed: " + msg);
}

// Whether a fresh connection to the remote succeeds (it lists the remote's references only).
bool remote_answers(git_repository* repo, const Target& t) {
    git_remote* raw_remote = nullptr;
    if (git_remote_create_anonymous(&raw_remote, repo, t.url.c_str()) < 0) {
        return false;
    }
    GitPtr<git_remote> remote(raw_remote);
    AuthState auth{t.credential};
    git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
    callbacks.credentials = on_credentials;
    callbacks.payload = &auth;
    const bool ok =
        git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr) == 0;
    git_remote_disconnect(remote.get());
    return ok;
}

// A failure to write into the cache repository's own files points at the cache, not the remote.
bool local_damage_class(int klass) {
    return klass == GIT_ERROR_ODB || klass == GIT_ERROR_ZLIB || klass == GIT_ERROR_INDEXER;
}

// libgit2 writes to sockets without MSG_NOSIGNAL; a server that closes first (as git daemon does
// after refusing an unknown commit) would kill the agent with SIGPIPE. While this guard lives the
// calling thread blocks SIGPIPE, so a write fails with EPIPE instead; a SIGPIPE raised meanwhile
// is taken off the thread before the old mask comes back. Nothing changes for other threads.
class SigpipeGuard {
public:
    SigpipeGuard() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;
    ~SigpipeGuard() {
        sigset_t pending;
        sigemptyset(&pending);
        if (::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            const timespec now{0, 0};
            ::sigtimedwait(&pipe_, nullptr, &now);
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

private:
    sigset_t pipe_{};
    sigset_t old_{};
};

// How a commit came: by its id, or with the remote's branches and tags because the remote
// does not serve commits by id.
enum class FetchedBy { id, refs };

Result<FetchedBy> fetch_commit(git_repository* repo, const Target& t) {
    git_remote* raw_remote = nullptr;
    if (git_remote_create_anonymous(&raw_remote, repo, t.url.c_str()) < 0) {
        return fetch_failed("cannot use the remote " + t.shown_url + ": " + git_message());
    }
    GitPtr<git_remote> remote(raw_remote);

    // Fetching by id asks the server for this commit and its history only, never its branches.
    std::string refspec = "+" + t.commit + ":refs/unidesk/" + t.commit;
    char* spec_ptr = refspec.data();
    git_strarray refspecs{&spec_ptr, 1};

    AuthState auth{t.credential};
    git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    opts.update_fetchhead = 0;
    opts.callbacks.credentials = on_credentials;
    opts.callbacks.payload = &auth;
    const SigpipeGuard no_sigpipe;
    // TODO: a fetch has no time limit. libgit2 1.5 has no socket timeout, so a server that
    // stops answering mid-transfer holds this thread and the repository's lock until the
    // kernel's TCP keepalive gives up, and tasks needing the same repository wait as long.
    int rc = git_remote_fetch(remote.get(), &refspecs, &opts, "unidesk fetch");
    auto by = FetchedBy::id;
    if (rc < 0 && contains(git_message(), "cannot fetch a specific object")) {
        // The remote serves no commit by id (a plain git daemon or http-backend without
        // uploadpack.allowReachableSHA1InWant), but it serves its branches and tags, which hold
        // every commit anyone pushed and kept.
        std::string heads = "+refs/heads/*:refs/unidesk/heads/*";
        std::string tags = "+refs/tags/*:refs/unidesk/tags/*";
        char* all[] = {heads.data(), tags.data()};
        git_strarray everything{all, 2};
        rc = git_remote_fetch(remote.get(), &everything, &opts, "unidesk fetch");
        by = FetchedBy::refs;
    }
    if (rc < 0) {
        if (!auth.missing && !auth.refused && !auth.unsuitable &&
            local_damage_class(git_error_class())) {
            return damaged("fetching into " + t.repo_path.string() + " failed");
        }
        FetchFailure failure{git_message(), git_error_class()};
        if (network_class(failure.klass) && !auth.missing && !auth.refused && !auth.unsuitable) {
            failure.reachable = remote_answers(repo, t);
        }
        return describe_fetch_error(t, auth, failure);
    }
    return by;
}

enum class CommitState { present, missing };

// Whether the commit and its root tree can be read; kDamaged when the object store fails.
Result<CommitState> commit_state(git_repository* repo, const git_oid& oid) {
    git_commit* raw_commit = nullptr;
    const int rc = git_commit_lookup(&raw_commit, repo, &oid);
    if (rc == GIT_ENOTFOUND) {
        return CommitState::missing;
    }
    if (rc < 0) {
        return damaged("reading the commit");
    }
    GitPtr<git_commit> commit(raw_commit);
    git_tree* raw_tree = nullptr;
    if (git_commit_tree(&raw_tree, commit.get()) < 0) {
        return damaged("reading the commit's tree");
    }
    git_tree_free(raw_tree);
    return CommitState::present;
}

// Every commit the cache fetched before must still be readable: a fetch tells the server which
// commits it has, and a server trusting a lost one would send a pack that cannot be resolved.
Result<void> check_known_commits(git_repository* repo) {
    git_reference_iterator* raw_iter = nullptr;
    if (git_reference_iterator_glob_new(&raw_iter, repo, "refs/unidesk/*") < 0) {
        return damaged("listing the cache's references");
    }
    GitPtr<git_reference_iterator> iter(raw_iter);
    git_odb* raw_odb = nullptr;
    if (git_repository_odb(&raw_odb, repo) < 0) {
        return damaged("opening the object store");
    }
    GitPtr<git_odb> odb(raw_odb);

    git_reference* ref = nullptr;
    int rc = 0;
    while ((rc = git_reference_next(&ref, iter.get())) == 0) {
        const git_oid* target = git_reference_target(ref);
        const bool known = target != nullptr && git_odb_exists(odb.get(), target) == 1;
        const std::string name = git_reference_name(ref);
        git_reference_free(ref);
        if (!known) {
            return make_error(Errc::internal, kDamaged, "the object of " + name + " is missing");
        }
    }
    if (rc != GIT_ITEROVER) {
        return damaged("reading the cache's references");
    }
    return {};
}

Result<GitPtr<git_repository>> open_or_create(const fs::path& path) {
    git_repository* raw = nullptr;
    std::error_code ec;
    if (fs::exists(path, ec)) {
        if (git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) <
            0) {
            return damaged("opening " + path.string());
        }
        return GitPtr<git_repository>(raw);
    }
    // A process dying half-way through leaves a folder that fails to open: it is then damaged.
    if (git_repository_init(&raw, path.c_str(), 1) < 0) {
        return cache_failed("cannot create the cache repository " + path.string() + ": " +
                            git_message());
    }
    return GitPtr<git_repository>(raw);
}

Result<void> remove_repository(const fs::path& path) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) {
        return cache_failed("cannot remove the damaged cache repository " + path.string() + ": " +
                            ec.message());
    }
    return {};
}

// One pass over the repository under the exclusive lock: present, or fetched now, or an error.
Result<bool> ensure_once(const Target& t) {
    auto repo = open_or_create(t.repo_path);
    if (!repo) {
        return repo.error();
    }

    auto state = commit_state(repo->get(), t.oid);
    if (!state) {
        return state.error();
    }
    if (*state == CommitState::present) {
        return false;
    }

    if (auto known = check_known_commits(repo->get()); !known) {
        return known.error();
    }
    auto fetched = fetch_commit(repo->get(), t);
    if (!fetched) {
        return fetched.error();
    }

    state = commit_state(repo->get(), t.oid);
    if (!state) {
        return state.error();
    }
    if (*state == CommitState::missing && *fetched == FetchedBy::refs) {
        return fetch_failed("commit " + t.commit + " is on no branch or tag of the remote " +
                            t.shown_url +
                            ", which does not allow fetching a commit by id (a git server needs "
                            "uploadpack.allowReachableSHA1InWant for that)");
    }
    if (*state == CommitState::missing) {
        return fetch_failed("commit " + t.commit + " is not in the remote " + t.shown_url);
    }
    if (*fetched == FetchedBy::refs) {
        // Named as a commit fetched by id is, so that it stays known when branches move.
        git_reference* kept = nullptr;
        if (git_reference_create(&kept, repo->get(), ("refs/unidesk/" + t.commit).c_str(), &t.oid,
                                 1, "unidesk fetch") < 0) {
            return damaged("naming commit " + t.commit);
        }
        git_reference_free(kept);
    }
    return true;
}

// Runs with the exclusive lock held. Rebuilds a damaged repository at most once; `rebuild`
// makes it start by rebuilding (a reader found it damaged).
Result<FetchInfo> ensure_locked(const Target& t, bool rebuild) {
    FetchInfo info;
    for (;;) {
        if (rebuild) {
            if (auto removed = remove_repository(t.repo_path); !removed) {
                return removed.error();
            }
            info.rebuilt = true;
            rebuild = false;
        }

        auto fetched = ensure_once(t);
        if (fetched) {
            info.fetched = *fetched;
            return info;
        }
        if (fetched.error().code != kDamaged) {
            return fetched.error();
        }
        if (info.rebuilt) {
            return fetch_failed(
                "the cache repository for " + t.shown_url +
                " is still unreadable after fetching it again: " + fetched.error().message);
        }
        git_log()->warn("git cache damaged, rebuilding url={} path={} reason=\"{}\"", t.shown_url,
                        t.repo_path.string(), fetched.error().message);
        rebuild = true;
    }
}

// Receives the entries of a tree, parents before children. Paths are relative, '/'-separated.
class TreeSink {
public:
    virtual ~TreeSink() = default;
    virtual Result<void> directory(const std::string& path) = 0;
    virtual Result<void> file(const std::string& path, const void* data, std::size_t size,
                              bool executable) = 0;
    virtual Result<void> symlink(const std::string& path, const std::string& target) = 0;
};

bool safe_entry_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && lower(name) != ".git" &&
           name.find('/') == std::string::npos;
}

Result<void> walk_tree(git_repository* repo, const git_tree* tree, const std::string& prefix,
                       TreeSink& sink) {
    const std::size_t count = git_tree_entrycount(tree);
    for (std::size_t i = 0; i < count; ++i) {
        const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
        const std::string name = git_tree_entry_name(entry);
        if (!safe_entry_name(name)) {
            return make_error(Errc::invalid_argument, "git_checkout_failed",
                              "the tree holds an unsafe path '" + prefix + name + "'");
        }
        const std::string path = prefix + name;
        const git_filemode_t mode = git_tree_entry_filemode(entry);

        if (mode == GIT_FILEMODE_TREE) {
            git_tree* raw_sub = nullptr;
            if (git_tree_lookup(&raw_sub, repo, git_tree_entry_id(entry)) < 0) {
                return damaged("reading tree " + path);
            }
            GitPtr<git_tree> sub(raw_sub);
            if (auto r = sink.directory(path); !r) {
                return r;
            }
            if (auto r = walk_tree(repo, sub.get(), path + "/", sink); !r) {
                return r;
            }
            continue;
        }
        if (mode == GIT_FILEMODE_COMMIT) {
            // A submodule: its content lives in another repository, as with `git clone`.
            if (auto r = sink.directory(path); !r) {
                return r;
            }
            continue;
        }

        git_blob* raw_blob = nullptr;
        if (git_blob_lookup(&raw_blob, repo, git_tree_entry_id(entry)) < 0) {
            return damaged("reading file " + path);
        }
        GitPtr<git_blob> blob(raw_blob);
        const auto* data = git_blob_rawcontent(blob.get());
        const auto size = static_cast<std::size_t>(git_blob_rawsize(blob.get()));
        Result<void> r;
        if (mode == GIT_FILEMODE_LINK) {
            r = sink.symlink(path, std::string(static_cast<const char*>(data), size));
        } else {
            r = sink.file(path, data, size, mode == GIT_FILEMODE_BLOB_EXECUTABLE);
        }
        if (!r) {
            return r;
        }
    }
    return {};
}

Result<void> write_commit_tree(const Target& t, TreeSink& sink) {
    auto repo = open_or_create(t.repo_path);
    if (!repo) {
        return repo.error();
    }
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo->get(), &t.oid) < 0) {
        return damaged("reading commit " + t.commit);
    }
    GitPtr<git_commit> commit(raw_commit);
    git_tree* raw_tree = nullptr;
    if (git_commit_tree(&raw_tree, commit.get()) < 0) {
        return damaged("reading the tree of " + t.commit);
    }
    GitPtr<git_tree> tree(raw_tree);
    return walk_tree(repo->get(), tree.get(), "", sink);
}

class FolderSink : public TreeSink {
public:
    explicit FolderSink(fs::path dest) : dest_(std::move(dest)) {}

    //! Makes `dest` ready: created if missing, empty. `again`: empties what a failed try wrote.
    Result<void> prepare(bool again) {
        std::error_code ec;
        fs::create_directories(dest_, ec);
        if (ec) {
            return checkout_failed(dest_, "cannot create", ec.value());
        }
        for (const auto& item : fs::directory_iterator(dest_, ec)) {
            if (!again) {
                return make_error(Errc::invalid_argument, "git_checkout_failed",
                                  "the destination " + dest_.string() + " is not empty");
            }
            fs::remove_all(item.path(), ec);
            if (ec) {
                return checkout_failed(item.path(), "cannot remove", ec.value());
            }
        }
        if (ec) {
            return checkout_failed(dest_, "cannot list", ec.value());
        }
        return {};
    }

    Result<void> directory(const std::string& path) override {
        const fs::path full = dest_ / path;
        if (::mkdir(full.c_str(), 0755) != 0) {
            return checkout_failed(full, "cannot create", errno);
        }
        return {};
    }

    Result<void> file(const std::string& path, const void* data, std::size_t size,
                      bool executable) override {
        const fs::path full = dest_ / path;
        const mode_t mode = executable ? 0755 : 0644;
        const int fd =
            ::open(full.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0) {
            return checkout_failed(full, "cannot create", errno);
        }
        const auto* p = static_cast<const char*>(data);
        std::size_t left = size;
        while (left > 0) {
            const ssize_t n = ::write(fd, p, left);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                const int err = n < 0 ? errno : EIO;
                ::close(fd);
                return checkout_failed(full, "cannot write", err);
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        // The umask must not take the executable bit away from a script.
        const int chmod_rc = ::fchmod(fd, mode);
        const int chmod_err = errno;
        if (::close(fd) != 0 || chmod_rc != 0) {
            return checkout_failed(full, "cannot finish", chmod_rc != 0 ? chmod_err : errno);
        }
        return {};
    }

    Result<void> symlink(const std::string& path, const std::string& target) override {
        const fs::path full = dest_ / path;
        if (target.empty() || target.find('\0') != std::string::npos) {
            return make_error(Errc::invalid_argument, "git_checkout_failed",
                              "the tree holds an invalid symbolic link '" + path + "'");
        }
        if (::symlink(target.c_str(), full.c_str()) != 0) {
            return checkout_failed(full, "cannot create link", errno);
        }
        return {};
    }

private:
    fs::path dest_;
};

class TarSink : public TreeSink {
public:
    explicit TarSink(fs::path file) : file_(std::move(file)) {}
    TarSink(const TarSink&) = delete;
    TarSink& operator=(const TarSink&) = delete;
    ~TarSink() override {
        if (archive_ != nullptr) {
            archive_write_free(archive_);
        }
    }

    Result<void> open(std::int64_t mtime) {
        mtime_ = mtime;
        archive_ = archive_write_new();
        if (archive_ == nullptr) {
            return tar_error("cannot start");
        }
        if (archive_write_set_format_pax_restricted(archive_) != ARCHIVE_OK ||
            archive_write_open_filename(archive_, file_.c_str()) != ARCHIVE_OK) {
            return tar_error("cannot create");
        }
        return {};
    }

    Result<void> close() {
        const int rc = archive_write_close(archive_);
        archive_write_free(archive_);
        archive_ = nullptr;
        if (rc != ARCHIVE_OK) {
            return make_error(Errc::internal, "git_checkout_failed",
                              "cannot finish " + file_.string());
        }
        return {};
    }

    Result<void> directory(const std::string& path) override {
        return add(path, AE_IFDIR, 0755, nullptr, 0, nullptr);
    }

    Result<void> file(const std::string& path, const void* data, std::size_t size,
                      bool executable) override {
        return add(path, AE_IFREG, executable ? 0755 : 0644, data, size, nullptr);
    }

    Result<void> symlink(const std::string& path, const std::string& target) override {
        return add(path, AE_IFLNK, 0777, nullptr, 0, target.c_str());
    }

private:
    Result<void> tar_error(const std::string& what) {
        std::string detail = archive_ != nullptr && archive_error_string(archive_) != nullptr
                                 ? archive_error_string(archive_)
                                 : "out of memory";
        return make_error(Errc::internal, "git_checkout_failed",
                          what + " " + file_.string() + ": " + detail);
    }

    Result<void> add(const std::string& path, unsigned int type, int perm, const void* data,
                     std::size_t size, const char* link) {
        std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                       archive_entry_free);
        archive_entry_set_pathname(entry.get(), path.c_str());
        archive_entry_set_filetype(entry.get(), type);
        archive_entry_set_perm(entry.get(), static_cast<mode_t>(perm));
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
        archive_entry_set_mtime(entry.get(), mtime_, 0);
        archive_entry_set_uid(entry.get(), 0);
        archive_entry_set_gid(entry.get(), 0);
        if (link != nullptr) {
            archive_entry_set_symlink(entry.get(), link);
        }
        if (archive_write_header(archive_, entry.get()) != ARCHIVE_OK) {
            return tar_error("cannot write " + path + " into");
        }
        if (size > 0 && archive_write_data(archive_, data, size) != static_cast<la_ssize_t>(size)) {
            return tar_error("cannot write " + path + " into");
        }
        return {};
    }

    fs::path file_;
    archive* archive_ = nullptr;
    std::int64_t mtime_ = 0;
};

// The commit time the tar entries carry; read before the sink opens.
Result<std::int64_t> commit_time(const Target& t) {
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, t.repo_path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) <
        0) {
        return damaged("opening " + t.repo_path.string());
    }
    GitPtr<git_repository> repo(raw);
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo.get(), &t.oid) < 0) {
        return damaged("reading commit " + t.commit);
    }
    GitPtr<git_commit> commit(raw_commit);
    return static_cast<std::int64_t>(git_commit_time(commit.get()));
}

}  // namespace

std::string git_url_host(const std::string& url) {
    return parse_url(url).host;
}

GitCache::GitCache(GitCacheOptions options) : options_(std::move(options)) {
    init_libgit2();
}

fs::path GitCache::repository_path(const std::string& url) const {
    const UrlParts u = parse_url(url);
    std::string slug;
    for (char c : u.host + u.rest) {
        const auto uc = static_cast<unsigned char>(c);
        const bool keep = std::isalnum(uc) || c == '.' || c == '_' || c == '-';
        if (keep) {
            slug += static_cast<char>(std::tolower(uc));
        } else if (!slug.empty() && slug.back() != '-') {
            slug += '-';
        }
        if (slug.size() >= 48) {
            break;
        }
    }
    while (!slug.empty() && (slug.back() == '-' || slug.back() == '.')) {
        slug.pop_back();
    }
    return options_.root / ((slug.empty() ? "repo" : slug) + "-" + sha256_hex(url).substr(0, 16));
}

namespace {

Result<Target> make_target(const GitCacheOptions& options, const GitCache& cache,
                           const std::string& url, const std::string& commit) {
    if (!valid_commit(commit)) {
        return make_error(Errc::invalid_argument, "invalid_commit",
                          "commit '" + commit.substr(0, 80) +
                              "' must be a full commit id: 40 lowercase hex digits");
    }
    const bool printable = std::all_of(url.begin(), url.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
    });
    if (url.empty() || url.size() > 2048 || !printable || url.front() == '-') {
        return make_error(Errc::invalid_argument, "invalid_url",
                          "repository URL '" + redact(url.substr(0, 200)) + "' is not usable");
    }

    Target t;
    t.url = url;
    t.shown_url = redact(url);
    t.commit = commit;
    t.parts = parse_url(url);
    const std::string& scheme = t.parts.scheme;
    const bool network =
        scheme == "https" || scheme == "http" || scheme == "ssh" || scheme == "git";
    const bool local = scheme == "file";
    if (!network && !(local && options.allow_local_remotes)) {
        return make_error(Errc::invalid_argument, "invalid_url",
                          "repository URL " + t.shown_url +
                              " must use https://, http://, ssh://, git:// or user@host:path");
    }
    if (has_password(url)) {
        return make_error(Errc::invalid_argument, "invalid_url",
                          "repository URL " + t.shown_url +
                              " carries a password; credentials belong in the agent's "
                              "[[git.credentials]]");
    }
    if (network && t.parts.host.empty()) {
        return make_error(Errc::invalid_argument, "invalid_url",
                          "repository URL " + t.shown_url + " names no host");
    }
    git_oid_fromstr(&t.oid, commit.c_str());

    t.repo_path = cache.repository_path(url);
    t.lock_path = t.repo_path;
    t.lock_path += ".lock";
    const std::string host_port = t.parts.host + ":" + t.parts.port;
    for (const auto& c : options.credentials) {
        const std::string h = lower(c.host);
        if (h == t.parts.host || (!t.parts.port.empty() && h == host_port)) {
            t.credential = &c;
            break;
        }
    }
    return t;
}

Result<void> make_root(const fs::path& root) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) {
        return cache_failed("cannot create the git cache folder " + root.string() + ": " +
                            ec.message());
    }
    return {};
}

void log_ensured(const Target& t, const FetchInfo& info) {
    if (info.fetched) {
        git_log()->info("git fetched url={} commit={} ms={}{}", t.shown_url, t.commit,
                        info.duration.count(), info.rebuilt ? " rebuilt=true" : "");
    } else {
        git_log()->debug("git cache hit url={} commit={} ms={}", t.shown_url, t.commit,
                         info.duration.count());
    }
}

// ensure_commit, then hands the tree to the sink `write` makes and fills, under a shared lock.
// Objects that turn out unreadable while writing make one rebuild and one more try.
template <class Write>
Result<void> with_tree(const GitCacheOptions& options, const GitCache& cache,
                       const std::string& url, const std::string& commit, Write&& write) {
    const auto start = Clock::now();
    auto target = make_target(options, cache, url, commit);
    if (!target) {
        return target.error();
    }
    const Target& t = *target;
    if (auto root = make_root(options.root); !root) {
        return root.error();
    }
    RepoLock lock;
    if (auto opened = lock.open(t.lock_path); !opened) {
        return opened.error();
    }

    bool rebuilt = false;
    for (int attempt = 0;; ++attempt) {
        if (auto locked = lock.lock(LOCK_EX); !locked) {
            return locked.error();
        }
        auto info = ensure_locked(t, attempt > 0);
        if (!info) {
            return info.error();
        }
        info->duration =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        log_ensured(t, *info);
        rebuilt = rebuilt || info->rebuilt;

        if (auto locked = lock.lock(LOCK_SH); !locked) {
            return locked.error();
        }
        auto written = write(t, attempt > 0);
        if (written || written.error().code != kDamaged) {
            return written;
        }
        if (rebuilt) {
            return fetch_failed(
                "the cache repository for " + t.shown_url +
                " is still unreadable after fetching it again: " + written.error().message);
        }
        git_log()->warn("git cache damaged, rebuilding url={} path={} reason=\"{}\"", t.shown_url,
                        t.repo_path.string(), written.error().message);
    }
}

}  // namespace

Result<FetchInfo> GitCache::ensure_commit(const std::string& url, const std::string& commit) {
    const auto start = Clock::now();
    auto target = make_target(options_, *this, url, commit);
    if (!target) {
        return target.error();
    }
    if (auto root = make_root(options_.root); !root) {
        return root.error();
    }
    RepoLock lock;
    if (auto opened = lock.open(target->lock_path); !opened) {
        return opened.error();
    }
    if (auto locked = lock.lock(LOCK_EX); !locked) {
        return locked.error();
    }

    auto info = ensure_locked(*target, false);
    if (!info) {
        git_log()->warn("git fetch failed url={} commit={} error=\"{}\"", target->shown_url, commit,
                        info.error().message);
        return info;
    }
    info->duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    log_ensured(*target, *info);
    return info;
}

Result<void> GitCache::checkout(const std::string& url, const std::string& commit,
                                const fs::path& dest) {
    return with_tree(options_, *this, url, commit, [&](const Target& t, bool again) {
        FolderSink sink(dest);
        if (auto ready = sink.prepare(again); !ready) {
            return ready;
        }
        return write_commit_tree(t, sink);
    });
}

Result<void> GitCache::write_tar(const std::string& url, const std::string& commit,
                                 const fs::path& tar_file) {
    return with_tree(options_, *this, url, commit, [&](const Target& t, bool) -> Result<void> {
        auto mtime = commit_time(t);
        if (!mtime) {
            return mtime.error();
        }
        TarSink sink(tar_file);
        if (auto opened = sink.open(*mtime); !opened) {
            return opened;
        }
        auto written = write_commit_tree(t, sink);
        if (written) {
            written = sink.close();
        }
        if (!written) {
            std::error_code ignored;
            fs::remove(tar_file, ignored);
        }
        return written;
    });
}

}  // namespace unidesk::agent
