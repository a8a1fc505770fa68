// Runs the longctx binary's `rope` subcommands and checks outputs and errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct Result {
  int status;
  std::string output;  // stdout + stderr
};

Result run(const std::string& args) {
  const std::string cmd = std::string(LONGCTX_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int rc = pclose(p);
  return {WEXITSTATUS(rc), out};
}

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("longctx_rope_cli_" + name + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  return nlohmann::json::parse(f);
}

bool is_svg(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  return s.rfind("<svg", 0) == 0 && s.find("</svg>") != std::string::npos && s.find("polyline") != std::string::npos;
}

TEST(RopeCli, DecayReproducesPaperValues) {
  const std::string out = temp_dir("decay");
  Result r = run("rope decay --rope default --rope linear:factor=8 --rope abf:base=500000 --at 0,1000,4000 "
                 "--max-distance 8000 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1.80"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("4.72"), std::string::npos);
  EXPECT_NE(r.output.find("5.57"), std::string::npos);
  const auto j = read_json(out + "/decay.json");
  const double want[3][3] = {{11.31, 1.80, 0.09}, {11.31, 4.72, 3.38}, {11.31, 5.57, 2.78}};
  for (int s = 0; s < 3; ++s)
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(j["specs"][s]["at"][k]["score"].get<double>(), want[s][k], 0.005) << s << "," << k;
  EXPECT_TRUE(is_svg(out + "/decay.svg"));
  EXPECT_TRUE(is_svg(out + "/decay_bound.svg"));
  EXPECT_TRUE(std::filesystem::exists(out + "/decay.csv"));
  std::filesystem::remove_all(out);
}

TEST(RopeCli, GranularityShowSpiral) {
  const std::string out = temp_dir("misc");
  Result r = run("rope granularity --rope abf:base=500000 --rope linear:factor=4 --max-distance 512 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = read_json(out + "/granularity.json");
  EXPECT_NEAR(j["specs"][0]["limit"].get<double>(), 0.076, 0.0005);
  EXPECT_NEAR(j["specs"][1]["limit"].get<double>(), 0.027, 0.0005);
  EXPECT_GT(j["specs"][0]["neighbour_angle"].get<double>(), j["specs"][1]["neighbour_angle"].get<double>());
  EXPECT_TRUE(is_svg(out + "/granularity.svg"));
  EXPECT_TRUE(is_svg(out + "/granularity_angle.svg"));

  r = run("rope show --rope abf --rope yarn:factor=8,original=4096 --head-dim 64 --context 8192 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  j = read_json(out + "/show.json");
  ASSERT_EQ(j["specs"].size(), 2u);
  EXPECT_EQ(j["specs"][0]["pairs"].size(), 32u);
  EXPECT_NEAR(j["specs"][0]["pairs"][0]["rotations"].get<double>(), 8192 / (2 * M_PI), 1e-9);
  EXPECT_TRUE(is_svg(out + "/show.svg"));

  r = run("rope spiral --rope default --rope linear:factor=4 --positions 100 --pair 4 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(is_svg(out + "/spiral_1.svg"));
  EXPECT_TRUE(is_svg(out + "/spiral_2.svg"));
  std::ifstream csv(out + "/spiral.csv");
  int lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, 1 + 2 * 100);
  std::filesystem::remove_all(out);
}

TEST(RopeCli, BadSpecsAreClearErrors) {
  const std::string out = temp_dir("err");
  Result r = run("rope decay --rope yarn:factor=8 --out " + out);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("missing required key 'original'"), std::string::npos) << r.output;
  r = run("rope show --rope rotary --out " + out);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown kind 'rotary'"), std::string::npos) << r.output;
  r = run("rope kinds");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("longrope"), std::string::npos);
  std::filesystem::remove_all(out);
}

}  // namespace
