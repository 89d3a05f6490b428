// Internal to the stores: one thread that runs posted tasks in FIFO order.
//
// The stores use it to invoke spend_handler completions on a thread they own,
// as spent_store.h promises, and never inline from check_and_mark.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace athm::store::detail {

class completion_worker {
 public:
  // Starts the thread. Throws std::system_error if it cannot (start-up only).
  // |thread_name| (at most 15 characters) names the thread for debuggers.
  explicit completion_worker(const char* thread_name);

  // Runs every task already posted, then joins the thread. Posting from
  // another thread while this runs is a caller bug.
  ~completion_worker();

  completion_worker(const completion_worker&) = delete;
  completion_worker& operator=(const completion_worker&) = delete;

  // Queues |task| to run on the worker thread. Thread-safe. Tasks must not
  // throw: an exception escaping a task terminates the process.
  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  const char* thread_name_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace athm::store::detail
