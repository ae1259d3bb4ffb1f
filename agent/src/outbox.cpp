#include "outbox.hpp"

#include <algorithm>

namespace unidesk::agent {
namespace {

// The attempt and seq fields of a task report, whichever type it is.
struct Numbering {
    std::string* attempt_id;
    std::uint64_t* seq;
    std::size_t bytes;
};

Numbering numbering_of(protocol::Body& body) {
    if (auto* s = std::get_if<protocol::TaskStatus>(&body)) {
        return {&s->attempt_id, &s->seq, 256 + s->message.size()};
    }
    if (auto* l = std::get_if<protocol::TaskLog>(&body)) {
        return {&l->attempt_id, &l->seq, 128 + l->data.size()};
    }
    return {nullptr, nullptr, 0};
}

}  // namespace

Outbox::Outbox(std::size_t limit_bytes) : limit_(limit_bytes) {}

void Outbox::set_on_ready(std::function<void()> on_ready) {
    std::lock_guard lock(mutex_);
    on_ready_ = std::move(on_ready);
}

bool Outbox::push(protocol::Body body, bool wait) {
    auto n = numbering_of(body);
    if (!n.attempt_id) {
        return false;
    }
    std::function<void()> notify;
    {
        std::unique_lock lock(mutex_);
        // One report larger than the whole limit still goes, alone.
        space_.wait(lock,
                    [&] { return !wait || closed_ || bytes_ == 0 || bytes_ + n.bytes <= limit_; });
        if (closed_) {
            return false;
        }
        *n.seq = ++last_seq_[*n.attempt_id];
        entries_.push_back({*n.attempt_id, *n.seq, n.bytes, std::move(body)});
        bytes_ += n.bytes;
        notify = on_ready_;
    }
    if (notify) {
        notify();
    }
    return true;
}

std::optional<protocol::Body> Outbox::take() {
    std::lock_guard lock(mutex_);
    if (sent_ >= entries_.size()) {
        return std::nullopt;
    }
    return entries_[sent_++].body;
}

void Outbox::ack(const std::string& attempt_id, std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    std::size_t removed_sent = 0;
    std::size_t i = 0;
    auto it = std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
        const bool gone = e.attempt_id == attempt_id && e.seq <= seq;
        if (gone) {
            bytes_ -= e.bytes;
            if (i < sent_) {
                ++removed_sent;
            }
        }
        ++i;
        return gone;
    });
    entries_.erase(it, entries_.end());
    sent_ -= removed_sent;
    space_.notify_all();
}

void Outbox::rewind() {
    std::lock_guard lock(mutex_);
    sent_ = 0;
}

void Outbox::continue_after(const std::string& attempt_id, std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    auto& last = last_seq_[attempt_id];
    last = std::max(last, seq);
}

void Outbox::forget(const std::string& attempt_id) {
    std::lock_guard lock(mutex_);
    last_seq_.erase(attempt_id);
}

std::size_t Outbox::unacked(const std::string& attempt_id) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(entries_.begin(), entries_.end(),
                      [&](const Entry& e) { return e.attempt_id == attempt_id; }));
}

void Outbox::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    space_.notify_all();
}

}  // namespace unidesk::agent
