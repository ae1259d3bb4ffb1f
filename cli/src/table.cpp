#include "table.hpp"

#include <algorithm>
#include <utility>

namespace unidesk::cli {

namespace {

constexpr const char* kGap = "  ";

void append_row(std::string& out, const std::vector<std::string>& cells,
                const std::vector<std::size_t>& widths) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i > 0) {
            line += kGap;
        }
        line += cells[i];
        if (i + 1 < cells.size()) {
            line.append(widths[i] - display_width(cells[i]), ' ');
        }
    }
    // A last column that is empty in this row would leave blanks behind.
    while (!line.empty() && line.back() == ' ') {
        line.pop_back();
    }
    out += line;
    out += '\n';
}

}  // namespace

std::size_t display_width(const std::string& s) {
    // Continuation bytes of a UTF-8 sequence look like 10xxxxxx; count everything else.
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells) {
    cells.resize(headers_.size());
    for (auto& c : cells) {
        if (c.empty()) {
            c.push_back('-');
        }
    }
    rows_.push_back(std::move(cells));
}

std::string Table::render() const {
    std::vector<std::size_t> widths(headers_.size(), 0);
    for (std::size_t i = 0; i < headers_.size(); ++i) {
        widths[i] = display_width(headers_[i]);
        for (const auto& row : rows_) {
            widths[i] = std::max(widths[i], display_width(row[i]));
        }
    }

    std::string out;
    append_row(out, headers_, widths);
    for (const auto& row : rows_) {
        append_row(out, row, widths);
    }
    return out;
}

}  // namespace unidesk::cli
