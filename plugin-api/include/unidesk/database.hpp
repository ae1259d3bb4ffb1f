#pragma once

// Access to PostgreSQL, the one authoritative store. Owned by the kernel; plugins receive a
// reference through KernelContext that stays valid until their stop() returns.

#include "unidesk/result.hpp"

#include <pqxx/pqxx>

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace unidesk {

//! Threads: every call blocks on the network and on PostgreSQL, so it must run on a blocking
//! worker (REST handlers already do), never on an Asio network thread.
class Database {
public:
    virtual ~Database() = default;

    //! Runs fn in one transaction on a pooled connection and commits when fn returns.
    //! If fn throws, the transaction rolls back. Errors come back as values:
    //! `database_unavailable` (Errc::unavailable) when no connection can be had or it broke,
    //! `database_conflict` (Errc::conflict) on a serialization failure or unique violation,
    //! `database_error` (Errc::internal) for any other SQL error, and an Error thrown by fn as
    //! ResultError is passed through unchanged (a handler's way to abort with its own code).
    virtual Result<void> transact_void(const std::function<void(pqxx::work&)>& fn) = 0;

    //! Whether the kernel currently considers the database reachable and migrated.
    virtual bool available() const = 0;

    //! transact_void() for a fn that returns a value.
    template <class F>
    auto transact(F&& fn) -> Result<std::invoke_result_t<F, pqxx::work&>> {
        using T = std::invoke_result_t<F, pqxx::work&>;
        if constexpr (std::is_void_v<T>) {
            return transact_void(std::forward<F>(fn));
        } else {
            std::optional<T> out;
            auto r = transact_void([&](pqxx::work& tx) { out.emplace(fn(tx)); });
            if (!r) {
                return r.error();
            }
            return Result<T>(boost::system::in_place_value, std::move(*out));
        }
    }
};

//! Runs `sql` as the prepared statement `name` on tx's connection, defining it there on first
//! use, so that a statement run thousands of times is parsed and planned once per connection.
//! A name stands for one SQL text everywhere (a second text under it throws).
template <class... Args>
pqxx::result exec_prepared(pqxx::work& tx, const std::string& name, const std::string& sql,
                           Args&&... args) {
    tx.conn().prepare(name, sql);
    return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace unidesk
