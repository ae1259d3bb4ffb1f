// The task list's state filter: `active` is every state before an end, queued included, and a
// state nobody has is a 400 rather than an empty page. The real kernel with the scheduler and
// PostgreSQL, no node.

#include "scheduler_kernel.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

TEST_CASE("the task list's state filter counts queued tasks as active and refuses unknown states",
          "[scheduler][e2e][db]") {
    unidesk::test::SchedulerKernel k;
    auto& kernel = k.kernel;

    const auto waiting = unidesk::test::submit_placeholder_task(kernel);
    const auto dropped = unidesk::test::submit_placeholder_task(kernel);
    REQUIRE(kernel.call("POST", "/v1/tasks/" + std::to_string(dropped) + "/cancel").status == 202);

    auto ids = [&](const std::string& state) {
        auto r = kernel.call("GET", "/v1/tasks?state=" + state);
        REQUIRE(r.status == 200);
        std::vector<std::int64_t> out;
        const auto body = r.json();
        for (const auto& t : body["tasks"]) {
            out.push_back(t["id"].get<std::int64_t>());
        }
        return out;
    };
    CHECK(ids("active") == std::vector<std::int64_t>{waiting});
    CHECK(ids("queued") == std::vector<std::int64_t>{waiting});
    CHECK(ids("cancelled") == std::vector<std::int64_t>{dropped});
    CHECK(ids("running").empty());

    auto bad = kernel.call("GET", "/v1/tasks?state=done");
    CHECK(bad.status == 400);
    CHECK(bad.json()["error"]["code"] == "invalid_request");
    CHECK(bad.json()["error"]["message"].get<std::string>().find("state must be") !=
          std::string::npos);
}
