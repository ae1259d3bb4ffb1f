#include "live_feed.hpp"

#include <ctime>

namespace unidesk::gateway {

std::string iso_utc(std::chrono::system_clock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return buf;
}

std::string sse_frame(const Event& e) {
    nlohmann::json j = {{"id", e.id},           {"at", iso_utc(e.at)}, {"kind", e.kind},
                        {"subject", e.subject}, {"actor", e.actor},    {"payload", e.payload}};
    // dump() escapes newlines, so the JSON is one `data:` line.
    return "id: " + std::to_string(e.id) + "\ndata: " + j.dump() + "\n\n";
}

LiveFeed::LiveFeed(EventBus& bus, Database& db, LiveFeedOptions options,
                   std::shared_ptr<spdlog::logger> log)
    : bus_(bus), db_(db), options_(options), log_(std::move(log)) {}

LiveFeed::~LiveFeed() {
    stop();
}

void LiveFeed::start() {
    thread_ = std::thread([this] { run(); });
}

void LiveFeed::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::int64_t LiveFeed::latest() const {
    std::lock_guard lock(mu_);
    return latest_;
}

void LiveFeed::run() {
    for (;;) {
        bool more = poll_once();
        std::unique_lock lock(mu_);
        if (stopping_) {
            return;
        }
        if (!more) {
            changed_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
            if (stopping_) {
                return;
            }
        }
    }
}

// One read of the bus. True when a full batch came back (read again at once).
bool LiveFeed::poll_once() {
    std::int64_t after = 0;
    {
        std::lock_guard lock(mu_);
        after = latest_;
    }

    if (after < 0) {
        // Start from the newest event: streams see what happens from now on.
        auto newest = db_.transact([](pqxx::work& tx) {
            return tx.exec("SELECT coalesce(max(id), 0) FROM events")[0][0].as<std::int64_t>();
        });
        std::lock_guard lock(mu_);
        if (!newest) {
            unavailable_ = newest.error().message;
        } else {
            latest_ = dropped_up_to_ = *newest;
            unavailable_.reset();
        }
        changed_.notify_all();
        return false;
    }

    auto events = bus_.read(after, options_.batch, {});
    std::lock_guard lock(mu_);
    if (!events) {
        if (!unavailable_) {
            log_->warn("live feed cannot read the event bus error=\"{}\"", events.error().message);
        }
        unavailable_ = events.error().message;
        changed_.notify_all();
        return false;
    }
    if (unavailable_) {
        log_->info("live feed reads the event bus again");
        unavailable_.reset();
    }
    for (const auto& e : *events) {
        window_.push_back({e.id, sse_frame(e)});
        latest_ = e.id;
    }
    while (window_.size() > options_.capacity) {
        dropped_up_to_ = window_.front().id;
        window_.pop_front();
    }
    changed_.notify_all();
    return events->size() == options_.batch;
}

LiveBatch LiveFeed::wait_after(std::int64_t cursor, std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, wait, [&] {
        return stopping_ || unavailable_ || (latest_ >= 0 && (cursor < 0 || latest_ > cursor));
    });

    LiveBatch out;
    out.unavailable = unavailable_;
    if (latest_ < 0) {
        out.cursor = cursor;
        return out;
    }
    if (cursor < 0) {
        out.cursor = latest_;
        return out;
    }
    if (cursor < dropped_up_to_) {
        out.behind = true;
        out.cursor = latest_;
        return out;
    }
    out.cursor = cursor;
    for (const auto& item : window_) {
        if (item.id > cursor) {
            out.text += item.frame;
            out.cursor = item.id;
        }
    }
    return out;
}

}  // namespace unidesk::gateway
