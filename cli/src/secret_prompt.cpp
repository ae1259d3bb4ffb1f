#include "secret_prompt.hpp"

#include "exit_codes.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

namespace unidesk::cli {

Result<std::string> prompt_secret_on_tty(const std::string& prompt) {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    termios saved{};
    if (fd < 0 || ::tcgetattr(fd, &saved) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return make_error(Errc::invalid_argument, kUsageError,
                          "no terminal to ask for a password on: use --password-stdin");
    }

    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
    [[maybe_unused]] const auto wrote = ::write(fd, prompt.data(), prompt.size());

    std::string secret;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') {
        secret += c;
    }
    ::tcsetattr(fd, TCSAFLUSH, &saved);
    ::close(fd);
    if (!secret.empty() && secret.back() == '\r') {
        secret.pop_back();
    }
    return secret;
}

}  // namespace unidesk::cli
