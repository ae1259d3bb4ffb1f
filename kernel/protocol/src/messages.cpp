#include "unidesk/protocol/messages.hpp"

#include "unidesk/protocol/close_reason.hpp"

#include <algorithm>

namespace unidesk::protocol {

bool is_valid_node_name(std::string_view name) {
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (name.empty() || name.size() > 64 || !alnum(name[0])) {
        return false;
    }
    return std::all_of(name.begin(), name.end(),
                       [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

namespace {

struct TypeName {
    std::string_view operator()(const Register&) const { return "register"; }
    std::string_view operator()(const Heartbeat&) const { return "heartbeat"; }
    std::string_view operator()(const Leaving&) const { return "leaving"; }
    std::string_view operator()(const Registered&) const { return "registered"; }
    std::string_view operator()(const ErrorBody&) const { return "error"; }
    std::string_view operator()(const TaskAssign&) const { return "task.assign"; }
    std::string_view operator()(const TaskCancel&) const { return "task.cancel"; }
    std::string_view operator()(const TaskAck&) const { return "task.ack"; }
    std::string_view operator()(const TaskResume&) const { return "task.resume"; }
    std::string_view operator()(const TaskStatus&) const { return "task.status"; }
    std::string_view operator()(const TaskLog&) const { return "task.log"; }
};

}  // namespace

std::string_view type_name(const Body& body) {
    return std::visit(TypeName{}, body);
}

std::string_view close_reason_name(std::uint16_t code) {
    switch (static_cast<CloseReason>(code)) {
    case CloseReason::normal: return "normal";
    case CloseReason::going_away: return "going_away";
    case CloseReason::token_revoked: return "token_revoked";
    case CloseReason::unsupported_version: return "unsupported_version";
    case CloseReason::frame_too_large: return "frame_too_large";
    case CloseReason::malformed_message: return "malformed_message";
    case CloseReason::not_allowed: return "not_allowed";
    case CloseReason::superseded: return "superseded";
    case CloseReason::heartbeat_timeout: return "heartbeat_timeout";
    case CloseReason::registration_refused: return "registration_refused";
    }
    return "unknown";
}

}  // namespace unidesk::protocol
