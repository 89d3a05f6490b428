#include "server/store/completion_worker.h"

#include <pthread.h>

#include <utility>

namespace athm::store::detail {

completion_worker::completion_worker(const char* thread_name)
    : thread_name_(thread_name), thread_([this] { run(); }) {}

completion_worker::~completion_worker() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void completion_worker::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void completion_worker::run() {
  pthread_setname_np(pthread_self(), thread_name_);
  std::deque<std::function<void()>> ready;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        return;  // stopping, and everything posted has run
      }
      ready.swap(tasks_);
    }
    for (auto& task : ready) {
      task();
    }
    ready.clear();
  }
}

}  // namespace athm::store::detail
