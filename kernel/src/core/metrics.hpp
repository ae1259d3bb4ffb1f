#pragma once

// Process metrics in Prometheus text format for `/metrics`: request counts by listener, route
// pattern, method and status; request latency histograms by route; database pool use; plugin
// states. Written here in the text exposition format 0.0.4 (HELP and TYPE lines, escaped label
// values). Thread-safe; record() is called once per request on the io thread and takes one
// short lock. Gauge functions are called at render time outside the lock, on the thread that
// renders (a blocking worker for /metrics).

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace unidesk::kernel {

class Metrics {
public:
    void record_request(const std::string& listener, const std::string& route,
                        const std::string& method, int status, std::chrono::nanoseconds took);

    //! A gauge read live at render time, e.g. unidesk_db_pool_in_use. Throws
    //! std::invalid_argument for a name that is not a valid metric name (a start-up error).
    void add_gauge(std::string name, std::string help, std::function<double()> read);
    //! Labelled gauges read live, e.g. unidesk_plugin_up{plugin="x"}.
    void add_labelled_gauge(std::string name, std::string help, std::string label,
                            std::function<std::vector<std::pair<std::string, double>>()> read);

    std::string render() const;

    //! Upper bounds of the latency histogram's buckets, in seconds (+Inf comes on top).
    static constexpr std::array<double, 11> kLatencyBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5,   1.0,  2.5,   5.0,  10.0};

private:
    struct Histogram {
        std::array<std::uint64_t, kLatencyBuckets.size() + 1> counts{};  // not cumulative
        double sum = 0;
        std::uint64_t count = 0;
    };
    struct Gauge {
        std::string name;
        std::string help;
        std::function<double()> read;
    };
    struct LabelledGauge {
        std::string name;
        std::string help;
        std::string label;
        std::function<std::vector<std::pair<std::string, double>>()> read;
    };

    void render_requests_locked(std::string& out) const;

    mutable std::mutex mu_;
    // (listener, route, method, status) -> count
    std::map<std::tuple<std::string, std::string, std::string, int>, std::uint64_t> requests_;
    // (listener, route) -> latency
    std::map<std::pair<std::string, std::string>, Histogram> latency_;
    std::vector<Gauge> gauges_;
    std::vector<LabelledGauge> labelled_gauges_;
};

}  // namespace unidesk::kernel
