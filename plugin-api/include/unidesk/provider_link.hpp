#pragma once

// Commands to compute nodes go through the session that node holds with the kernel.

#include "unidesk/result.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace unidesk {

//! Thread-safe. Fails with `node_offline` (Errc::unavailable) when the node holds no session
//! with any kernel instance.
class ProviderLink {
public:
    virtual ~ProviderLink() = default;
    virtual Result<void> send(const std::string& node_name, const std::string& type,
                              const nlohmann::json& body) = 0;
};

}  // namespace unidesk
