#pragma once

// Turns whatever a transaction threw into an Error value, so that no libpqxx exception leaves
// the database layer. Used by the Pool, the migrator and the event bus.

#include "unidesk/result.hpp"

#include <exception>
#include <string>

namespace unidesk::kernel {

struct DbFailure {
    Error error;
    //! The connection it ran on is lost or in an unknown state: drop it and treat the
    //! database as unreachable.
    bool connection_lost = false;
};

//! Classifies `e` (call it with std::current_exception() inside a catch block):
//! a ResultError keeps its Error; broken connection or unknown commit outcome gives
//! `database_unavailable` (Errc::unavailable); serialization failure, deadlock or unique
//! violation gives `database_conflict` (Errc::conflict); any other SQL or libpqxx error gives
//! `database_error` (Errc::internal); anything else `internal_error`.
DbFailure classify_db_exception(std::exception_ptr e);

//! The first line of a libpq error message: the server's primary message without the
//! `LINE n:` excerpt of the query or the DETAIL line, which may echo values such as secrets.
std::string first_line(const std::string& message);

}  // namespace unidesk::kernel
