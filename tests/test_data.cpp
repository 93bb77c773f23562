// The data readers (IDX, CSV) and the SVG plot writer.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstring>

#include "data_io.h"
#include "error.h"
#include "svg_plot.h"

using namespace pcplay;

namespace {

std::string idx_bytes(unsigned type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xff);
  return out + data;
}

std::string gzip(const std::string& plain) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(plain.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

TEST_CASE("IDX files are read plain or gzipped, 8-bit pixels scaled to [0, 1]") {
  const std::string images = idx_bytes(0x08, {2, 2, 3}, std::string("\x00\xff\x80\x01\x02\x03\x04\x05\x06\x07\x08\x09", 12));
  for (const std::string& bytes : {images, gzip(images)}) {
    IdxArray a = parse_idx(bytes, "images");
    CHECK(a.shape == Shape{2, 2, 3});
    REQUIRE(a.values.size() == 12);
    CHECK(a.values[0] == 0.0f);
    CHECK(a.values[1] == 1.0f);
    CHECK(a.values[2] == doctest::Approx(128.0 / 255));
  }
  // Big-endian floats.
  const float f = -2.5f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  std::string be = {static_cast<char>(bits >> 24), static_cast<char>(bits >> 16), static_cast<char>(bits >> 8),
                    static_cast<char>(bits)};
  CHECK(parse_idx(idx_bytes(0x0D, {1}, be), "floats").values[0] == -2.5f);
}

TEST_CASE("malformed IDX files are rejected naming the problem") {
  auto rejects = [](const std::string& bytes, const char* what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(parse_idx(bytes, "d.idx"), doctest::Contains(what), Error);
  };
  rejects("\x01\x02", "bad magic");
  rejects(std::string("\x00\x00\x07\x01", 4) + std::string(4, '\0'), "unknown IDX data type");
  rejects(std::string("\x00\x00\x08\x09", 4), "dimensions are not supported");
  rejects(std::string("\x00\x00\x08\x02\x00\x00", 6), "truncated header");
  rejects(idx_bytes(0x08, {2, 3}, "12345"), "need 6");
  rejects(idx_bytes(0x08, {0xffffffff, 0xffffffff}, ""), "implausibly large");
  rejects(gzip(idx_bytes(0x08, {4}, "1234")).substr(0, 20), "gzip");
}

TEST_CASE("CSV data: numeric features, an integer label last, an optional header") {
  Dataset d = parse_csv("x,y,label\n0.5, -1, 1\n2,3e-1,0\r\n\n-4,5,2\n", "d.csv");
  CHECK(d.sample_shape == Shape{2});
  CHECK(d.size() == 3);
  CHECK(d.num_classes == 3);
  CHECK(d.x == std::vector<float>{0.5f, -1.0f, 2.0f, 0.3f, -4.0f, 5.0f});
  CHECK(d.labels == std::vector<int64_t>{1, 0, 2});
  auto rejects = [](const std::string& text, const char* what) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(parse_csv(text, "d.csv"), doctest::Contains(what), Error);
  };
  rejects("1,2,0\n1,2\n", "d.csv:2: 2 columns where the file has 3");
  rejects("1,2,0\n1,abc,1\n", "d.csv:2: column 2 is not a number");
  rejects("1,2,0.5\n", "class index");
  rejects("1,2,-1\n", "class index");
  rejects("1\n", "at least one feature");
  rejects("a,b\n", "no data rows");
  rejects("1,inf,0\n", "not a number");
}

TEST_CASE("a CSV data set splits reproducibly by ratio and seed") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  DataSplit a = split_dataset(parse_csv(text, "d"), 0.8, 4), b = split_dataset(parse_csv(text, "d"), 0.8, 4);
  CHECK(a.train.size() == 80);
  CHECK(a.test.size() == 20);
  CHECK(a.train.x == b.train.x);
  CHECK(a.test.num_classes == 3);
}

TEST_CASE("unknown data sets and missing data folders are clear errors") {
  DataOptions options;
  options.data_dir = "/nonexistent";
  CHECK_THROWS_WITH_AS(load_data("mnist", options), doctest::Contains("scripts/setup.sh"), Error);
  CHECK_THROWS_WITH_AS(load_data("moons", options), doctest::Contains("unknown data set"), Error);
}

TEST_CASE("axis ticks are 1-2-5 steps, or decades on a log axis") {
  CHECK(axis_ticks(0, 1, false) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(axis_ticks(0, 400, false) == std::vector<double>{0, 100, 200, 300, 400});
  CHECK(axis_ticks(0.07, 0.13, false).front() == doctest::Approx(0.07));
  CHECK(axis_ticks(1e-4, 1, true) == std::vector<double>{1e-4, 1e-3, 1e-2, 1e-1, 1});
  CHECK(axis_ticks(1, 1, false).empty());
  CHECK(axis_ticks(1e20, std::nextafter(1e20, 1e30), false).size() <= 13);  // ends, however narrow
}

TEST_CASE("an SVG figure survives flat, huge and empty data") {
  PlotPanel p{"p", "x", "y", false, false, 0, 0, {}};
  p.series.push_back({"flat", {1, 2}, {1e300, 1e300}, false, -1});
  p.series.push_back({"empty", {}, {}, false, -1});
  PlotPanel q{"q", "x", "y", true, true, -1, 1, {}};  // a fixed log range that cannot be: fitted instead
  q.series.push_back({"s", {1, 10}, {0.5, 2}, false, -1});
  const std::string svg = svg_figure("t", {p, q}, 2);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
}

TEST_CASE("an SVG figure has a panel per plot, escaped text, and breaks lines at non-finite points") {
  PlotPanel p{"a < b & c", "x", "y", false, true, 0, 0, {}};
  p.series.push_back({"s", {1, 2, 3, 4}, {1, std::nan(""), 3, 4}, false, -1});
  const std::string svg = svg_figure("title", {p, p}, 2);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("a &lt; b &amp; c") != std::string::npos);
  CHECK(svg.find("a < b") == std::string::npos);
  // Two panels, each a path that lifts the pen after the NaN: "M.. M.. L..".
  size_t paths = 0;
  for (size_t at = svg.find("<path d=\"M"); at != std::string::npos; at = svg.find("<path d=\"M", at + 1)) {
    ++paths;
    const std::string d = svg.substr(at, svg.find('"', at + 9) - at);
    CHECK(std::count(d.begin(), d.end(), 'M') == 2);
  }
  CHECK(paths == 2);
}
