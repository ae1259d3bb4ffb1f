#pragma once

// Test support: lets Catch print a unidesk::Result in REQUIRE(r) as "value" or as the error's
// code and message. Without it Catch falls back to Boost's operator<<, which needs an
// operator<< for every value type.

#include "unidesk/result.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace Catch {

template <class T>
struct StringMaker<boost::system::result<T, unidesk::Error>> {
    static std::string convert(const boost::system::result<T, unidesk::Error>& r) {
        if (r.has_value()) {
            return "a value";
        }
        return "error " + r.error().code + ": " + r.error().message;
    }
};

}  // namespace Catch
