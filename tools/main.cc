// The convledger executable: everything is in tools_lib (tools/cli.h).
#include <iostream>

#include "tools/cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);  // append reads stdin through its streambuf, char by char
  return convledger::cli::Main(argc, argv, std::cin, std::cout, std::cerr);
}
