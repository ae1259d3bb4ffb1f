#pragma once

// The core REST API for compute nodes, on the internal listener (any signed-in role):
//   GET /v1/nodes          {"nodes": [node, ...]} ordered by name
//   GET /v1/nodes/{name}   {"node": node}; 404 node_not_found
// A node's fields are those of node_json(); documented in docs/reference/rest-api.md. Every
// answer is read from PostgreSQL: with the database down it is a 503, never a remembered list.

#include "link/node_store.hpp"
#include "unidesk/http.hpp"

namespace unidesk::kernel {

Result<void> register_node_routes(Router& router, NodeStore& nodes);

}  // namespace unidesk::kernel
