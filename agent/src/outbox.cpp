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

// What a report costs besides its text, roughly: the envelope and the fields.
constexpr std::size_t kLogOverhead = 128;

Numbering numbering_of(protocol::Body& body) {
    if (auto* s = std::get_if<protocol::TaskStatus>(&body)) {
        return {&s->attempt_id, &s->seq, 256 + s->message.size()};
    }
    if (auto* l = std::get_if<protocol::TaskLog>(&body)) {
        return {&l->attempt_id, &l->seq, kLogOverhead + l->data.size()};
    }
    return {nullptr, nullptr, 0};
}

}  // namespace

bool Outbox::merge_into_tail(const protocol::Body& body) {
    const auto* l = std::get_if<protocol::TaskLog>(&body);
    if (l == nullptr || entries_.empty()) {
        return false;
    }
    auto& tail = entries_.back();
    auto* t = std::get_if<protocol::TaskLog>(&tail.body);
    if (t == nullptr || tail.taken || tail.acked || t->attempt_id != l->attempt_id ||
        t->stream != l->stream || t->data.size() + l->data.size() > protocol::kMaxLogData) {
        return false;
    }
    t->data += l->data;
    if (!l->until.empty()) {
        t->until = l->until;
    }
    tail.bytes += l->data.size();
    return true;
}

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
        if (merge_into_tail(body)) {
            bytes_ += n.bytes - kLogOverhead;
            return true;  // the tail was not sent yet; whoever sends it is already on its way
        }
        *n.seq = ++last_seq_[*n.attempt_id];
        unacked_[*n.attempt_id].push_back(first_ + entries_.size());
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
    while (sent_ < entries_.size() && entries_[sent_].acked) {
        ++sent_;
    }
    if (sent_ >= entries_.size()) {
        return std::nullopt;
    }
    entries_[sent_].taken = true;
    entries_[sent_].sent_at = std::chrono::steady_clock::now();
    return entries_[sent_++].body;
}

void Outbox::ack(const std::string& attempt_id, std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    auto list = unacked_.find(attempt_id);
    if (list == unacked_.end()) {
        return;
    }
    auto& numbers = list->second;
    while (!numbers.empty() && entries_[numbers.front() - first_].seq <= seq) {
        auto& e = entries_[numbers.front() - first_];
        e.acked = true;
        e.body = protocol::Body{};  // its memory goes now, the entry when those before it go
        bytes_ -= e.bytes;
        numbers.pop_front();
    }
    if (numbers.empty()) {
        unacked_.erase(list);
    }
    drop_acked_front();
    space_.notify_all();
}

void Outbox::drop_acked_front() {
    while (!entries_.empty() && entries_.front().acked) {
        entries_.pop_front();
        ++first_;
        if (sent_ > 0) {
            --sent_;
        }
    }
}

void Outbox::rewind() {
    std::lock_guard lock(mutex_);
    sent_ = 0;
}

bool Outbox::resend_overdue(std::chrono::steady_clock::duration after) {
    std::lock_guard lock(mutex_);
    // The front is never acknowledged (drop_acked_front), and with sent_ > 0 it went out in
    // this session.
    if (sent_ == 0 || entries_.empty() ||
        std::chrono::steady_clock::now() - entries_.front().sent_at < after) {
        return false;
    }
    sent_ = 0;
    return true;
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
    auto it = unacked_.find(attempt_id);
    return it == unacked_.end() ? 0 : it->second.size();
}

void Outbox::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    space_.notify_all();
}

}  // namespace unidesk::agent
