#include "table.hpp"

#include <catch2/catch.hpp>

using unidesk::cli::display_width;
using unidesk::cli::Table;

TEST_CASE("a table pads every column to its widest cell", "[cli][table]") {
    Table t({"ID", "NAME", "ROLE"});
    t.add_row({"1", "admin", "admin"});
    t.add_row({"12", "li", "viewer"});
    CHECK(t.render() ==
          "ID  NAME   ROLE\n"
          "1   admin  admin\n"
          "12  li     viewer\n");
}

TEST_CASE("a table shows empty cells as a dash and leaves no trailing blanks", "[cli][table]") {
    Table t({"NAME", "REASON"});
    t.add_row({"database", ""});
    t.add_row({"scheduler"});
    CHECK(t.render() ==
          "NAME       REASON\n"
          "database   -\n"
          "scheduler  -\n");
}

TEST_CASE("a table with no rows is only its header", "[cli][table]") {
    Table t({"ID", "NODE"});
    CHECK(t.rows() == 0);
    CHECK(t.render() == "ID  NODE\n");
}

TEST_CASE("a table aligns by terminal columns, not bytes", "[cli][table]") {
    CHECK(display_width("gpu-07") == 6);
    CHECK(display_width("é") == 1);
    CHECK(display_width("节点") == 4);

    Table t({"NAME", "STATE"});
    t.add_row({"实验室节点", "online"});
    t.add_row({"gpu-07", "offline"});
    t.add_row({"café", "online"});
    CHECK(t.render() ==
          "NAME        STATE\n"
          "实验室节点  online\n"
          "gpu-07      offline\n"
          "café        online\n");
}

TEST_CASE("a row longer than the header is cut to the header's columns", "[cli][table]") {
    Table t({"A"});
    t.add_row({"x", "extra"});
    CHECK(t.render() == "A\nx\n");
}
