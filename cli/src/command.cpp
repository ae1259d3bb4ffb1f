#include "command.hpp"

#include "exit_codes.hpp"
#include "table.hpp"

#include <cstdio>
#include <ostream>

namespace unidesk::cli {

void print_raw(std::ostream& out, const Answer& answer) {
    out << answer.raw;
    if (answer.raw.empty() || answer.raw.back() != '\n') {
        out << '\n';
    }
}

std::string cell(const nlohmann::json& obj, const char* key) {
    if (!obj.is_object()) {
        return {};
    }
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return {};
    }
    if (it->is_string()) {
        return it->get<std::string>();
    }
    return it->dump();
}

std::string human_bytes(const nlohmann::json& value) {
    if (!value.is_number() || value.get<double>() <= 0) {
        return {};
    }
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = value.get<double>();
    std::size_t unit = 0;
    while (v >= 1024.0 && unit + 1 < std::size(kUnits)) {
        v /= 1024.0;
        ++unit;
    }
    char buf[32];
    if (unit == 0) {
        std::snprintf(buf, sizeof buf, "%.0f B", v);
    } else {
        std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
    }
    return buf;
}

Result<nlohmann::json> array_field(const Answer& answer, const char* key) {
    if (answer.json.is_object()) {
        const auto it = answer.json.find(key);
        if (it != answer.json.end() && it->is_array()) {
            return ok_value(*it);
        }
    }
    return make_error(Errc::internal, "unexpected_answer",
                      std::string("the server's answer has no '") + key + "' list");
}

nlohmann::json object_field(const Answer& answer, const char* key) {
    if (answer.json.is_object()) {
        const auto it = answer.json.find(key);
        if (it != answer.json.end() && it->is_object()) {
            return *it;
        }
    }
    return answer.json;
}

Error usage_error(std::string message) {
    return make_error(Errc::invalid_argument, kUsageError, std::move(message));
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

Result<std::string> id_arg(const CommandContext& ctx, const std::string& what) {
    if (!all_digits(ctx.args.at(0))) {
        return usage_error("a " + what + " id is a number, not '" + ctx.args[0] + "'");
    }
    return ctx.args[0];
}

Result<int> call_and_show(CommandContext& ctx, std::string_view method, const std::string& path,
                          const std::optional<nlohmann::json>& body,
                          const std::function<void(const Answer&)>& show) {
    auto answer = ctx.client.call(method, path, body);
    if (!answer) {
        return answer.error();
    }
    if (ctx.json) {
        print_raw(ctx.io.out, *answer);
    } else {
        show(*answer);
    }
    return kExitOk;
}

Result<int> show_list(CommandContext& ctx, const std::string& path, const char* key,
                      std::vector<std::string> headers,
                      const std::function<std::vector<std::string>(const nlohmann::json&)>& row) {
    auto answer = ctx.client.call("GET", path);
    if (!answer) {
        return answer.error();
    }
    if (ctx.json) {
        print_raw(ctx.io.out, *answer);
        return kExitOk;
    }
    auto list = array_field(*answer, key);
    if (!list) {
        return list.error();
    }
    Table table(std::move(headers));
    for (const auto& item : *list) {
        table.add_row(row(item));
    }
    ctx.io.out << table.render();
    return kExitOk;
}

}  // namespace unidesk::cli
