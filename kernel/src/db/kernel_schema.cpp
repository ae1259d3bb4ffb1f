#include "db/kernel_schema.hpp"

namespace unidesk::kernel {

const std::vector<Migration>& kernel_migrations() {
    static const std::vector<Migration> list{
        {1, "event bus", events_schema_sql()},
        {2, "users and tokens", auth_schema_sql()},
        {3, "compute nodes", nodes_schema_sql()},
        {4, "event appends in parallel", events_horizon_sql()},
    };
    return list;
}

}  // namespace unidesk::kernel
