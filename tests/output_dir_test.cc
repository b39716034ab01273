// --out safety (issue 14): slim never replaces a file, a directory it did not
// write, or its own input; an unwritable parent is found before any work; a
// killed run's temporary is cleaned up by the next run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {
namespace {
namespace fs = std::filesystem;

void put(const std::string& path, const std::string& s) { std::ofstream(path, std::ios::binary) << s; }

// A model-like output: one file.
void write_model(const std::string& dir) { build_dir_atomic(dir, [](const std::string& t) { put(t + "/m.bin", "new"); }); }

int count_hidden(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string()[0] == '.';
  return n;
}

TEST(OutputDir, ExistingFileIsNeverReplaced) {
  test::TempDir d;
  put(d.file("notes.txt"), "my notes");
  EXPECT_THROW(write_model(d.file("notes.txt")), Error);
  EXPECT_EQ(read_file(d.file("notes.txt")), "my notes");
  EXPECT_EQ(count_hidden(d.path()), 0);  // no temporary left behind
}

TEST(OutputDir, UnrelatedNonEmptyDirectoryIsNeverReplaced) {
  test::TempDir d;
  fs::create_directories(d.file("mydir"));
  put(d.file("mydir/thesis.tex"), "years of work");
  try {
    write_model(d.file("mydir"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not written by slim"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(d.file("mydir/thesis.tex")), "years of work");
}

TEST(OutputDir, OutputEqualToOrContainingTheInputIsRefused) {
  test::TempDir d;
  write_model(d.file("src"));  // a slim output, replaceable in itself
  EXPECT_THROW(OutputDir(d.file("src"), {d.file("src")}), Error);
  EXPECT_THROW(OutputDir(d.file("src"), {d.file("src/m.bin")}), Error);
  EXPECT_THROW(OutputDir(d.path(), {d.file("src")}), Error);  // the parent holds the input
  EXPECT_THROW(OutputDir(d.file("src/../src/"), {d.file("src")}), Error);
  EXPECT_EQ(read_file(d.file("src/m.bin")), "new");
  EXPECT_NO_THROW(OutputDir(d.file("other"), {d.file("src")}));
}

TEST(OutputDir, EmptyAbsentOrSlimWrittenDirectoryIsReplaced) {
  test::TempDir d;
  fs::create_directories(d.file("empty"));
  write_model(d.file("empty"));
  EXPECT_TRUE(file_exists(d.file("empty/") + kOutputMarker));
  build_dir_atomic(d.file("empty"), [](const std::string& t) { put(t + "/m.bin", "second"); });
  EXPECT_EQ(read_file(d.file("empty/m.bin")), "second");
  write_model(d.file("absent/deeper"));
  EXPECT_TRUE(file_exists(d.file("absent/deeper/m.bin")));
  // An output of an earlier slim (quant_report.json, no marker) is replaceable too.
  fs::create_directories(d.file("legacy"));
  put(d.file("legacy/quant_report.json"), "{}");
  EXPECT_NO_THROW(write_model(d.file("legacy")));
}

TEST(OutputDir, PreviousOutputIsMovedAsideWithoutTouchingAUsersOldDir) {
  test::TempDir d;
  fs::create_directories(d.file("out.old"));
  put(d.file("out.old/keep.txt"), "keep");
  write_model(d.file("out"));
  write_model(d.file("out"));  // used to remove_all("out.old")
  EXPECT_EQ(read_file(d.file("out.old/keep.txt")), "keep");
  EXPECT_EQ(count_hidden(d.path()), 0);
}

TEST(OutputDir, UnwritableParentIsFoundBeforeAnyWork) {
  test::TempDir d;
  put(d.file("afile"), "x");  // a file as the parent: fails even for root
  bool filled = false;
  try {
    OutputDir out(d.file("afile/out"));
    filled = true;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("afile/out"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(filled);
}

TEST(OutputDir, FailedFillLeavesNothingBehind) {
  test::TempDir d;
  EXPECT_THROW(build_dir_atomic(d.file("out"), [](const std::string&) { fail("boom"); }), Error);
  EXPECT_FALSE(fs::exists(d.file("out")));
  EXPECT_EQ(count_hidden(d.path()), 0);
}

TEST(OutputDir, TemporaryOfAKilledRunIsRemovedByTheNextRun) {
  test::TempDir d;
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);  // a pid that is now gone, as after SIGKILL
  const std::string dead = d.file(".out.partial-" + std::to_string(child) + "-deadbeef");
  const std::string live = d.file(".out.partial-" + std::to_string(getpid()) + "-0badf00d");
  fs::create_directories(dead);
  fs::create_directories(live);
  put(dead + "/model.safetensors", std::string(1000, 'x'));
  const std::string other = d.file(".other.partial-" + std::to_string(child) + "-deadbeef");
  fs::create_directories(other);
  write_model(d.file("out"));
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));   // a running process's temporary is kept
  EXPECT_TRUE(fs::exists(other));  // another output's is not ours to judge
}

TEST(ReadFile, DirectoryIsNamedInTheError) {
  test::TempDir d;
  try {
    read_file(d.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(d.path()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slim
