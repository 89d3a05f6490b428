#include "server/app/log_sink.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <memory>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>

namespace {

// A pipe whose read end never blocks.
struct pipe_pair {
  int r = -1;
  int w = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    r = fds[0];
    w = fds[1];
    REQUIRE(::fcntl(r, F_SETFL, O_NONBLOCK) == 0);
  }
  ~pipe_pair() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  std::string drain() const {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(r, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
};

std::shared_ptr<spdlog::logger> make_logger(std::shared_ptr<athm::app::fd_sink> sink) {
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%v"));
  auto l = std::make_shared<spdlog::logger>("t", std::move(sink));
  l->flush_on(spdlog::level::off);
  return l;
}

}  // namespace

TEST_CASE("fd_sink: unbuffered writes each line at once", "[app][logging]") {
  pipe_pair p;
  auto sink = std::make_shared<athm::app::fd_sink>(p.w, 0);
  auto log = make_logger(sink);
  log->info("one");
  CHECK(p.drain() == "one\n");
  log->info("two");
  CHECK(p.drain() == "two\n");
  CHECK(sink->pending_bytes() == 0);
}

TEST_CASE("fd_sink: buffered lines wait for the limit or a flush", "[app][logging]") {
  pipe_pair p;
  auto sink = std::make_shared<athm::app::fd_sink>(p.w, 16);
  auto log = make_logger(sink);
  log->info("abc");  // 4 bytes pending
  log->info("defg");  // 9
  CHECK(p.drain().empty());
  CHECK(sink->pending_bytes() == 9);
  log->info("0123456");  // 17 >= 16: written, whole lines only
  CHECK(p.drain() == "abc\ndefg\n0123456\n");
  CHECK(sink->pending_bytes() == 0);
  log->info("x");
  CHECK(p.drain().empty());
  log->flush();
  CHECK(p.drain() == "x\n");
}

TEST_CASE("fd_sink: destruction writes what is pending", "[app][logging]") {
  pipe_pair p;
  {
    auto sink = std::make_shared<athm::app::fd_sink>(p.w, 1024);
    auto log = make_logger(sink);
    log->info("last words");
    CHECK(p.drain().empty());
  }
  CHECK(p.drain() == "last words\n");
}

TEST_CASE("fd_sink: a closed reader drops lines, never throws", "[app][logging]") {
  std::signal(SIGPIPE, SIG_IGN);  // as athmd's main() does
  pipe_pair p;
  ::close(p.r);
  p.r = -1;
  auto sink = std::make_shared<athm::app::fd_sink>(p.w, 0);
  auto log = make_logger(sink);
  CHECK_NOTHROW(log->info("nobody listens"));
  CHECK(sink->pending_bytes() == 0);
}
