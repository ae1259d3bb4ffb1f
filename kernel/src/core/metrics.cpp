#include "core/metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace unidesk::kernel {
namespace {

bool valid_name(const std::string& s) {
    if (s.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && i > 0)) {
            return false;
        }
    }
    return true;
}

void check_name(const std::string& s, const char* what) {
    if (!valid_name(s)) {
        throw std::invalid_argument(fmt::format("invalid metric {} '{}'", what, s));
    }
}

// Label values escape backslash, double quote and line feed; HELP text only the first and last.
std::string escape(std::string_view s, bool quote) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quote) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

std::string number(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    return fmt::format("{}", v);
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name,
                   escape(help, false), name, type);
}

}  // namespace

void Metrics::record_request(const std::string& listener, const std::string& route,
                             const std::string& method, int status, std::chrono::nanoseconds took) {
    double seconds = std::chrono::duration<double>(took).count();
    std::size_t bucket = 0;
    while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) {
        ++bucket;
    }

    std::lock_guard lock(mu_);
    ++requests_[{listener, route, method, status}];
    auto& h = latency_[{listener, route}];
    ++h.counts[bucket];
    h.sum += seconds;
    ++h.count;
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
    check_name(name, "name");
    std::lock_guard lock(mu_);
    gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

void Metrics::add_labelled_gauge(
    std::string name, std::string help, std::string label,
    std::function<std::vector<std::pair<std::string, double>>()> read) {
    check_name(name, "name");
    check_name(label, "label");
    std::lock_guard lock(mu_);
    labelled_gauges_.push_back(
        {std::move(name), std::move(help), std::move(label), std::move(read)});
}

std::string Metrics::render() const {
    std::string out;
    std::vector<Gauge> gauges;
    std::vector<LabelledGauge> labelled;
    {
        std::lock_guard lock(mu_);
        render_requests_locked(out);
        gauges = gauges_;
        labelled = labelled_gauges_;
    }

    // Gauges are read without the lock: they may block (a pool count) or run health checks.
    for (const auto& g : gauges) {
        header(out, g.name, g.help, "gauge");
        double v = NAN;
        try {
            v = g.read();
        } catch (const std::exception&) {
            // NaN tells the scraper the value is unknown; nothing else is invented.
        }
        fmt::format_to(std::back_inserter(out), "{} {}\n", g.name, number(v));
    }
    for (const auto& g : labelled) {
        header(out, g.name, g.help, "gauge");
        std::vector<std::pair<std::string, double>> values;
        try {
            values = g.read();
        } catch (const std::exception&) {
            values.clear();
        }
        for (const auto& [label_value, v] : values) {
            fmt::format_to(std::back_inserter(out), "{}{{{}=\"{}\"}} {}\n", g.name, g.label,
                           escape(label_value, true), number(v));
        }
    }
    return out;
}

void Metrics::render_requests_locked(std::string& out) const {
    header(out, "unidesk_http_requests_total",
           "HTTP requests answered, by listener, route, "
           "method and status.",
           "counter");
    for (const auto& [key, count] : requests_) {
        const auto& [listener, route, method, status] = key;
        fmt::format_to(std::back_inserter(out),
                       "unidesk_http_requests_total{{listener=\"{}\",route=\"{}\",method=\"{}\","
                       "status=\"{}\"}} {}\n",
                       escape(listener, true), escape(route, true), escape(method, true), status,
                       count);
    }

    const std::string name = "unidesk_http_request_duration_seconds";
    header(out, name,
           "Time from a request being read to its answer being ready, by listener and route.",
           "histogram");
    for (const auto& [key, h] : latency_) {
        auto labels = fmt::format("listener=\"{}\",route=\"{}\"", escape(key.first, true),
                                  escape(key.second, true));
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.counts.size(); ++i) {
            cumulative += h.counts[i];
            auto le = i < kLatencyBuckets.size() ? number(kLatencyBuckets[i]) : "+Inf";
            fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                           le, cumulative);
        }
        fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name,
                       labels, number(h.sum), name, labels, h.count);
    }
}

}  // namespace unidesk::kernel
