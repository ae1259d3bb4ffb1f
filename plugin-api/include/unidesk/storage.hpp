#pragma once

// Large files live in one active storage backend, chosen in config and registered by a
// storage plugin. The presigning interface is added with the storage backends; for now the
// registry only knows which backend is active and whether it answers.

#include "unidesk/health.hpp"

#include <memory>
#include <string>

namespace unidesk {

class StorageBackend {
public:
    virtual ~StorageBackend() = default;
    virtual std::string name() const = 0;
    virtual HealthReport health() = 0;
};

//! Thread-safe. The backend object is kept alive by the registry until its plugin stops.
class StorageRegistry {
public:
    virtual ~StorageRegistry() = default;
    //! Registers a backend under its name(); the one named in config becomes active.
    virtual void register_backend(std::shared_ptr<StorageBackend> backend) = 0;
    virtual void unregister_backend(const std::string& name) = 0;
    //! The active backend, or nullptr when none is configured or its plugin is not running.
    virtual std::shared_ptr<StorageBackend> active() = 0;
};

}  // namespace unidesk
