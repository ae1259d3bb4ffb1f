// unidesk: the command-line client of the UniDesk REST API. See cli/README.md.

#include "app.hpp"
#include "secret_prompt.hpp"

#include <curl/curl.h>

#include <iostream>

int main(int argc, char** argv) {
    curl_global_init(CURL_GLOBAL_DEFAULT);

    unidesk::cli::Io io{std::cin, std::cout, std::cerr, unidesk::cli::prompt_secret_on_tty};
    const int code = unidesk::cli::run_cli(std::vector<std::string>(argv + 1, argv + argc), io,
                                           unidesk::cli::process_env());

    std::cout.flush();
    curl_global_cleanup();
    return code;
}
