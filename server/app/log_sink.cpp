#include "server/app/log_sink.h"

#include <cerrno>

#include <unistd.h>

namespace athm::app {
namespace {

// One lock for every fd_sink: a buffered access-log write and a main-log
// line never interleave, whatever the descriptor is (pipe, file, tty).
std::mutex& write_lock() {
  static std::mutex mu;
  return mu;
}

}  // namespace

fd_sink::fd_sink(int fd, std::size_t buffer_limit) : fd_(fd), limit_(buffer_limit) {
  if (limit_ > 0) {
    pending_.reserve(limit_ + 1024);
  }
}

fd_sink::~fd_sink() {
  std::lock_guard<std::mutex> lock(mutex_);
  write_pending();
}

std::size_t fd_sink::pending_bytes() {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.size();
}

void fd_sink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  pending_.append(line.data(), line.size());
  if (pending_.size() >= limit_) {
    write_pending();
  }
}

void fd_sink::flush_() { write_pending(); }

void fd_sink::write_pending() noexcept {
  if (pending_.empty()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(write_lock());
    const char* p = pending_.data();
    std::size_t left = pending_.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;  // EAGAIN, EPIPE, a closed descriptor: drop the rest
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  pending_.clear();
}

}  // namespace athm::app
