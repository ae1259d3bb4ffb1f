#pragma once

// JSON text that has to fit in PostgreSQL. A `text` parameter holding the NUL character is cut
// short at it without a word, and `\u0000` in `jsonb` is refused, so JSON that comes from
// outside (a REST body, a node's frame) is looked at once on arrival: a REST body holding NUL is
// refused, a node's output has it replaced.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace unidesk {

//! U+FFFD REPLACEMENT CHARACTER, as UTF-8.
inline constexpr const char* kReplacementCharacter = "\xEF\xBF\xBD";

//! Replaces every NUL character in the strings of `j` (values and object keys, at any depth)
//! with U+FFFD; returns how many there were. Walks with a stack of its own, so nesting as deep
//! as the parser allowed cannot exhaust the thread's stack.
inline std::size_t replace_nul(nlohmann::json& j) {
    std::size_t replaced = 0;
    auto fix = [&](std::string& s) {
        for (std::size_t at = s.find('\0'); at != std::string::npos; at = s.find('\0', at)) {
            s.replace(at, 1, kReplacementCharacter);
            at += 3;
            ++replaced;
        }
    };
    std::vector<nlohmann::json*> todo{&j};
    while (!todo.empty()) {
        nlohmann::json* v = todo.back();
        todo.pop_back();
        if (v->is_string()) {
            fix(v->get_ref<std::string&>());
        } else if (v->is_array()) {
            for (auto& e : *v) {
                todo.push_back(&e);
            }
        } else if (v->is_object()) {
            bool bad_key = false;
            for (auto it = v->begin(); it != v->end() && !bad_key; ++it) {
                bad_key = it.key().find('\0') != std::string::npos;
            }
            if (bad_key) {
                // Keys cannot be changed in place: the object is built again.
                nlohmann::json rebuilt = nlohmann::json::object();
                for (auto it = v->begin(); it != v->end(); ++it) {
                    std::string key = it.key();
                    fix(key);
                    rebuilt[key] = std::move(it.value());
                }
                *v = std::move(rebuilt);
            }
            for (auto it = v->begin(); it != v->end(); ++it) {
                todo.push_back(&it.value());
            }
        }
    }
    return replaced;
}

}  // namespace unidesk
