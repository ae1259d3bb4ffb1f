#include "table.hpp"

#include <algorithm>
#include <utility>

namespace unidesk::cli {

namespace {

constexpr const char* kGap = "  ";

// TODO: combining marks and emoji sequences are counted as one column each, so rows holding
// them shift by a column or two; plain text, accented letters and CJK line up.
//! East Asian wide characters (CJK, Hangul, full-width forms) take two terminal columns.
bool is_wide(char32_t cp) {
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
           (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
           (cp >= 0x20000 && cp <= 0x3FFFD);
}

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
    std::size_t width = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto lead = static_cast<unsigned char>(s[i]);
        const std::size_t length = lead < 0x80    ? 1
                                   : lead >= 0xF0 ? 4
                                   : lead >= 0xE0 ? 3
                                   : lead >= 0xC0 ? 2
                                                  : 1;
        char32_t cp = length == 1 ? lead : lead & (0xFF >> (length + 1));
        for (std::size_t k = 1; k < length && i + k < s.size(); ++k) {
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        }
        width += is_wide(cp) ? 2 : 1;
        i += length;
    }
    return width;
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
