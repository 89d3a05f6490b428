#include <iostream>

#include "tools/athm/cli.h"

int main(int argc, char** argv) { return athm::cli::run(argc, argv, std::cout, std::cerr); }
