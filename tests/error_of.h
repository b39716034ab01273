// The message of the slim::Error a call throws ("" when it throws none), for
// checks that compare messages. Kept free of gtest so the MPI check programs
// (tests/mpi/) share it with the unit tests (test_util.h includes it).
#pragma once
#include <functional>
#include <string>

#include "util/error.h"

namespace slim::test {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace slim::test
