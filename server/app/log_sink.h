// An spdlog sink that writes whole lines to a file descriptor (stderr in the
// daemon), either at once or buffered.
//
// Buffering exists for the access log: one write(2) per request line costs a
// visible share of a redemption's CPU time, so lines collect in memory and go
// out in one write when |buffer_limit| bytes are pending or on flush() (the
// daemon flushes periodically and at exit). A crash loses at most what is
// pending. Every fd_sink in the process writes under one lock and only whole
// lines, so lines of different loggers never interleave.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace athm::app {

class fd_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // |fd| stays owned by the caller and must outlive the sink.
  // |buffer_limit| 0: each line is written as it is logged.
  fd_sink(int fd, std::size_t buffer_limit);
  ~fd_sink() override;  // writes what is pending

  fd_sink(const fd_sink&) = delete;
  fd_sink& operator=(const fd_sink&) = delete;

  // Bytes formatted but not yet written.
  std::size_t pending_bytes();

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  // Writes pending_ out (retrying short writes and EINTR) and clears it;
  // bytes the descriptor refuses are dropped: logging never fails a request.
  void write_pending() noexcept;

  int fd_;
  std::size_t limit_;
  std::string pending_;
};

}  // namespace athm::app
