// athmd: everything but the process entry lives in server/app (cli.h).
#include <csignal>
#include <iostream>

#include "server/app/cli.h"

int main(int argc, char** argv) {
  // A log collector that goes away must not kill the daemon: writes to a
  // closed stderr pipe fail with EPIPE instead (sockets use MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  return athm::app::run_cli(argc, argv, std::cout, std::cerr);
}
