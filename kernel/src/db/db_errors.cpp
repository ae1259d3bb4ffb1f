#include "db/db_errors.hpp"

#include <pqxx/pqxx>

namespace unidesk::kernel {

std::string first_line(const std::string& message) {
    auto end = message.find('\n');
    std::string line = message.substr(0, end);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
        line.pop_back();
    }
    return line;
}

DbFailure classify_db_exception(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const ResultError& re) {
        return {re.error(), false};
    } catch (const pqxx::broken_connection& x) {
        return {make_error(Errc::unavailable, "database_unavailable",
                           "database connection failed or lost: " + first_line(x.what())),
                true};
    } catch (const pqxx::in_doubt_error& x) {
        return {
            make_error(Errc::unavailable, "database_unavailable",
                       "connection lost during commit, outcome unknown: " + first_line(x.what())),
            true};
    } catch (const pqxx::statement_completion_unknown& x) {
        return {make_error(Errc::unavailable, "database_unavailable",
                           "statement outcome unknown: " + first_line(x.what())),
                true};
    } catch (const pqxx::transaction_rollback& x) {
        // Serialization failures and deadlocks: the caller may simply try again.
        return {make_error(Errc::conflict, "database_conflict", first_line(x.what())), false};
    } catch (const pqxx::unique_violation& x) {
        return {make_error(Errc::conflict, "database_conflict", first_line(x.what())), false};
    } catch (const pqxx::sql_error& x) {
        return {make_error(Errc::internal, "database_error",
                           "sql error sqlstate=" + x.sqlstate() + ": " + first_line(x.what())),
                false};
    } catch (const pqxx::pqxx_exception& x) {
        return {make_error(Errc::internal, "database_error", first_line(x.base().what())), false};
    } catch (const std::exception& x) {
        return {make_error(Errc::internal, "internal_error", x.what()), false};
    } catch (...) {
        return {make_error(Errc::internal, "internal_error", "unknown exception in transaction"),
                false};
    }
}

}  // namespace unidesk::kernel
