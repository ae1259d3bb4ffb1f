#include "core/metrics.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <sstream>
#include <stdexcept>

using namespace unidesk::kernel;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

bool has_line(const std::string& text, const std::string& line) {
    auto lines = lines_of(text);
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Every line of the exposition is a HELP, a TYPE or a sample with a number, and every sample
// belongs to a family whose TYPE came before it.
void require_valid_exposition(const std::string& text) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? )"
        R"(([-+]?[0-9.e+-]+|NaN|[+-]Inf))");

    REQUIRE(!text.empty());
    REQUIRE(text.back() == '\n');
    std::string family;
    for (const auto& line : lines_of(text)) {
        INFO(line);
        std::smatch m;
        if (std::regex_match(line, m, help)) {
            continue;
        }
        if (std::regex_match(line, m, type)) {
            family = m[1];
            continue;
        }
        REQUIRE(std::regex_match(line, m, sample));
        REQUIRE(std::string(m[1]).rfind(family, 0) == 0);
    }
}

}  // namespace

TEST_CASE("request counters and latency histograms appear after requests", "[kernel][metrics]") {
    Metrics m;
    m.record_request("internal", "/v1/tasks/{id}", "GET", 200, 3ms);
    m.record_request("internal", "/v1/tasks/{id}", "GET", 200, 40ms);
    m.record_request("internal", "unmatched", "GET", 404, 100us);

    auto text = m.render();
    require_valid_exposition(text);
    REQUIRE(has_line(text, "# TYPE unidesk_http_requests_total counter"));
    REQUIRE(has_line(text,
                     "unidesk_http_requests_total{listener=\"internal\",route=\"/v1/tasks/"
                     "{id}\",method=\"GET\",status=\"200\"} 2"));
    REQUIRE(has_line(text,
                     "unidesk_http_requests_total{listener=\"internal\",route=\"unmatched\","
                     "method=\"GET\",status=\"404\"} 1"));

    std::string h = "unidesk_http_request_duration_seconds";
    std::string labels = "listener=\"internal\",route=\"/v1/tasks/{id}\"";
    REQUIRE(has_line(text, "# TYPE " + h + " histogram"));
    REQUIRE(has_line(text, h + "_bucket{" + labels + ",le=\"0.005\"} 1"));
    REQUIRE(has_line(text, h + "_bucket{" + labels + ",le=\"0.025\"} 1"));
    REQUIRE(has_line(text, h + "_bucket{" + labels + ",le=\"0.05\"} 2"));
    REQUIRE(has_line(text, h + "_bucket{" + labels + ",le=\"+Inf\"} 2"));
    auto sum_prefix = h + "_sum{" + labels + "} ";
    auto lines = lines_of(text);
    auto sum = std::find_if(lines.begin(), lines.end(),
                            [&](const std::string& l) { return l.rfind(sum_prefix, 0) == 0; });
    REQUIRE(sum != lines.end());
    REQUIRE(std::stod(sum->substr(sum_prefix.size())) == Approx(0.043));
    REQUIRE(has_line(text, h + "_count{" + labels + "} 2"));
}

TEST_CASE("gauges are read live at render time and label values are escaped", "[kernel][metrics]") {
    Metrics m;
    double in_use = 3;
    m.add_gauge("unidesk_db_pool_in_use", "Pooled connections in use.",
                [&in_use] { return in_use; });
    m.add_labelled_gauge("unidesk_plugin_up", "1 when up.", "plugin", [] {
        return std::vector<std::pair<std::string, double>>{{"odd\"name\\x\n", 0}, {"s3", 1}};
    });
    m.add_gauge("unidesk_broken", "A gauge whose reader throws.",
                []() -> double { throw std::runtime_error("no"); });

    auto text = m.render();
    require_valid_exposition(text);
    REQUIRE(has_line(text, "# HELP unidesk_db_pool_in_use Pooled connections in use."));
    REQUIRE(has_line(text, "unidesk_db_pool_in_use 3"));
    REQUIRE(has_line(text, "unidesk_plugin_up{plugin=\"odd\\\"name\\\\x\\n\"} 0"));
    REQUIRE(has_line(text, "unidesk_plugin_up{plugin=\"s3\"} 1"));
    REQUIRE(has_line(text, "unidesk_broken NaN"));

    in_use = 5.5;
    REQUIRE(has_line(m.render(), "unidesk_db_pool_in_use 5.5"));
}

TEST_CASE("an invalid metric name is refused at registration", "[kernel][metrics]") {
    Metrics m;
    REQUIRE_THROWS_AS(m.add_gauge("9lives", "x", [] { return 1.0; }), std::invalid_argument);
    REQUIRE_THROWS_AS(
        m.add_labelled_gauge("ok_name", "x", "bad-label",
                             [] { return std::vector<std::pair<std::string, double>>{}; }),
        std::invalid_argument);
}
