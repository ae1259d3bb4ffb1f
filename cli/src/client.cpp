#include "client.hpp"

#include <curl/curl.h>

#include <memory>
#include <utility>

namespace unidesk::cli {

namespace {

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

struct CurlDeleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

std::string string_field(const nlohmann::json& obj, const char* key, std::string fallback) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

nlohmann::json parse_or_null(const std::string& raw) {
    auto j = nlohmann::json::parse(raw, nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
}

}  // namespace

Errc errc_from_status(long status) noexcept {
    switch (status) {
    case 400: return Errc::invalid_argument;
    case 401: return Errc::unauthenticated;
    case 403: return Errc::forbidden;
    case 404: return Errc::not_found;
    case 409: return Errc::conflict;
    case 413: return Errc::too_large;
    case 503: return Errc::unavailable;
    case 504: return Errc::timeout;
    default: return status >= 400 && status < 500 ? Errc::invalid_argument : Errc::internal;
    }
}

Error error_from_answer(long status, const std::string& body) {
    const auto j = parse_or_null(body);
    const auto status_text = std::to_string(status);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
        const auto& e = j["error"];
        return make_error(errc_from_status(status), string_field(e, "code", "http_" + status_text),
                          string_field(e, "message", "the server answered HTTP " + status_text));
    }
    return make_error(errc_from_status(status), "http_" + status_text,
                      "the server answered HTTP " + status_text);
}

std::string path_segment(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        }
    }
    return out;
}

Client::Client(Settings settings, std::chrono::milliseconds timeout)
    : settings_(std::move(settings)), timeout_(timeout) {}

Result<Answer> Client::send(std::string_view method, const std::string& path,
                            const std::optional<nlohmann::json>& body) {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) {
        return make_error(Errc::internal, "curl_init_failed", "could not start an HTTP client");
    }

    std::unique_ptr<curl_slist, CurlDeleter> headers;
    const auto add_header = [&headers](const std::string& h) {
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    add_header("Accept: application/json");
    if (!settings_.token.empty()) {
        add_header("Authorization: Bearer " + settings_.token);
    }

    const std::string url = settings_.server + path;
    const std::string method_str(method);
    const std::string payload = body ? body->dump() : std::string();
    Answer answer;
    char error_text[CURL_ERROR_SIZE] = {};

    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_str.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.raw);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_text);
    if (body) {
        add_header("Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        const std::string why = error_text[0] != '\0' ? error_text : curl_easy_strerror(rc);
        return make_error(Errc::unavailable, kServerUnreachable,
                          "cannot reach the server at " + settings_.server + ": " + why);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
    answer.json = parse_or_null(answer.raw);
    return answer;
}

Result<Answer> Client::call(std::string_view method, const std::string& path,
                            const std::optional<nlohmann::json>& body) {
    auto answer = send(method, path, body);
    if (!answer) {
        return answer.error();
    }
    if (answer->status < 200 || answer->status >= 300) {
        return error_from_answer(answer->status, answer->raw);
    }
    return answer;
}

}  // namespace unidesk::cli
