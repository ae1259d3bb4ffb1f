// Feeds arbitrary bytes to the provider protocol decoder. Any crash, sanitizer report or
// `decoder_failure` (an exception the decoder had to swallow) is a bug.

#include "unidesk/protocol/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view frame(reinterpret_cast<const char*>(data), size);
    auto msg = unidesk::protocol::decode(frame, 64 * 1024);
    if (!msg && msg.error().errc == unidesk::Errc::internal) {
        std::abort();
    }
    if (msg) {
        // What decodes must encode and decode again to the same message.
        auto again = unidesk::protocol::decode(unidesk::protocol::encode(*msg), 1 << 20);
        if (!again || !(*again == *msg)) {
            std::abort();
        }
    }
    return 0;
}
