// athmd: everything but the process entry lives in server/app (cli.h).
#include <iostream>

#include "server/app/cli.h"

int main(int argc, char** argv) { return athm::app::run_cli(argc, argv, std::cout, std::cerr); }
