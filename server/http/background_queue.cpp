#include "server/http/background_queue.h"

#include <utility>

namespace athm::http {

void background_queue::push(job j) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.push_back(std::move(j));
}

std::optional<background_queue::job> background_queue::try_pop(bool* more) {
  std::lock_guard<std::mutex> lock(mu_);
  if (jobs_.empty()) {
    if (more != nullptr) {
      *more = false;
    }
    return std::nullopt;
  }
  job j = std::move(jobs_.front());
  jobs_.pop_front();
  if (more != nullptr) {
    *more = !jobs_.empty();
  }
  return j;
}

std::size_t background_queue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void background_queue::clear() noexcept {
  std::deque<job> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(jobs_);
  }
  // Destroyed outside the lock: a job's captures may post or push.
}

}  // namespace athm::http
