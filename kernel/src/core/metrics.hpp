#pragma once

// Process metrics in Prometheus text format for `/metrics`: request counts by listener, route
// pattern, method and status; request latency histograms by route; database pool use; plugin
// states. Thread-safe; record() is called once per request on the io thread and takes one
// short lock.

#include <chrono>
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

    //! A gauge read live at render time, e.g. unidesk_db_pool_in_use.
    void add_gauge(std::string name, std::string help, std::function<double()> read);
    //! Labelled gauges read live, e.g. unidesk_plugin_up{plugin="x"}.
    void add_labelled_gauge(std::string name, std::string help, std::string label,
                            std::function<std::vector<std::pair<std::string, double>>()> read);

    std::string render() const;

private:
    // ... members as the implementation needs
    mutable std::mutex mu_;
};

}  // namespace unidesk::kernel
