#pragma once

// Aligned text tables for people: a header row, then one row per item, columns
// separated by two spaces and padded to their widest cell (counted in terminal columns, so
// UTF-8 names line up, Chinese ones included). Empty cells show as "-". A plain value type; not
// thread-safe.

#include <cstddef>
#include <string>
#include <vector>

namespace unidesk::cli {

class Table {
public:
    explicit Table(std::vector<std::string> headers);

    //! A row shorter than the header is padded with empty cells; a longer one is cut.
    void add_row(std::vector<std::string> cells);
    std::size_t rows() const noexcept { return rows_.size(); }

    //! Every line ends in '\n' and has no trailing blanks.
    std::string render() const;

private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
};

//! The terminal columns UTF-8 text takes: one per character, two for East Asian wide ones.
std::size_t display_width(const std::string& s);

}  // namespace unidesk::cli
