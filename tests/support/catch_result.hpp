#pragma once

// Lets Catch print a unidesk::Result in a failed assertion: the error, or "ok". Included in
// every test file by the build (tests/CMakeLists.txt), so REQUIRE(result) just works.

#include "unidesk/result.hpp"

#include <catch2/catch.hpp>

namespace Catch {

template <class T>
struct StringMaker<boost::system::result<T, unidesk::Error>> {
    static std::string convert(const boost::system::result<T, unidesk::Error>& r) {
        if (r) {
            return "ok";
        }
        return "error " + r.error().code + ": " + r.error().message;
    }
};

}  // namespace Catch
