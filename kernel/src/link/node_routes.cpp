#include "link/node_routes.hpp"

namespace unidesk::kernel {

Result<void> register_node_routes(Router& router, NodeStore& nodes) {
    NodeStore* store = &nodes;
    auto listed =
        router.add_route(Listener::internal, "GET", "/v1/nodes", [store](const HttpRequest&) {
            auto all = store->list();
            if (!all) {
                return HttpResponse::error(all.error());
            }
            auto out = nlohmann::json::array();
            for (const auto& n : *all) {
                out.push_back(node_json(n));
            }
            return HttpResponse::json({{"nodes", std::move(out)}});
        });
    if (!listed) {
        return listed.error();
    }
    return router.add_route(Listener::internal, "GET", "/v1/nodes/{name}",
                            [store](const HttpRequest& req) {
                                auto node = store->get(req.params.at("name"));
                                if (!node) {
                                    return HttpResponse::error(node.error());
                                }
                                return HttpResponse::json({{"node", node_json(*node)}});
                            });
}

}  // namespace unidesk::kernel
