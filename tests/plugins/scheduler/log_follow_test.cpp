// Following a task's log (`GET /v1/tasks/{id}/log?wait_s=`, what every open task page and
// `unidesk logs -f` do) waits on a thread of its own: the real kernel with two workers and the
// scheduler, more followers than workers, and the rest of the API still answering meanwhile.

#include "scheduler_kernel.hpp"
#include "support/pg_cluster.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("log followers hold no kernel worker while they wait", "[scheduler][db]") {
    unidesk::test::SchedulerKernel k("[kernel]\nworker_threads = 2\n");
    auto& kernel = k.kernel;

    // No node is online: the task stays queued and its log stays empty, so followers wait.
    const auto task_id = unidesk::test::submit_placeholder_task(kernel);
    const auto log_path = "/v1/tasks/" + std::to_string(task_id) + "/log?wait_s=4";

    std::mutex mu;
    std::vector<int> statuses;
    std::vector<Clock::time_point> answered;
    std::vector<std::thread> followers;
    for (int i = 0; i < 6; ++i) {
        followers.emplace_back([&] {
            auto r = kernel.call("GET", log_path);
            std::lock_guard lock(mu);
            statuses.push_back(r.status);
            answered.push_back(Clock::now());
        });
    }
    std::this_thread::sleep_for(500ms);  // all six are waiting by now

    auto list = kernel.call("GET", "/v1/tasks");
    const auto listed = Clock::now();
    CHECK(list.status == 200);
    CHECK(kernel.call("GET", "/v1/whoami").status == 200);
    for (auto& f : followers) {
        f.join();
    }

    // Every follower waited out its wait_s and got an empty page; the list came before any.
    CHECK(statuses == std::vector<int>(6, 200));
    for (const auto& t : answered) {
        CHECK(t > listed);
    }
}
