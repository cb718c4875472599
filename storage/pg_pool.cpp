#include "storage/pg_pool.h"

#include <algorithm>

namespace tlsaudit::storage {

PgPool::PgPool(PgPoolOptions options) : options_(std::move(options)) {
  size_t n = std::max<size_t>(1, options_.connections);
  for (size_t i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
}

PgPool::~PgPool() {
  std::deque<Job> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(queue_);
  }
  ready_.notify_all();
  for (auto& job : left) job.task(nullptr, absl::CancelledError("storage pool shutting down"));
  for (auto& t : workers_) t.join();
}

absl::Status PgPool::submit(Task task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return absl::CancelledError("storage pool shutting down");
    if (queue_.size() >= options_.queue_capacity) {
      return absl::ResourceExhaustedError("storage pool queue is full");
    }
    queue_.push_back({std::move(task), std::chrono::steady_clock::now() + options_.max_wait});
  }
  ready_.notify_one();
  return absl::OkStatus();
}

size_t PgPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

uint64_t PgPool::reconnects() const {
  std::lock_guard lock(mutex_);
  return reconnects_;
}

void PgPool::work() {
  std::unique_ptr<PgConnection> connection;
  auto backoff = options_.backoff_initial;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status last_error = absl::UnavailableError("no database session");
    for (;;) {
      if (connection != nullptr && !connection->broken()) {
        job.task(connection.get(), absl::OkStatus());
        // A session the task found broken is replaced before the next task, not retried here:
        // the pool cannot know whether the task is safe to repeat.
        if (connection->broken()) connection.reset();
        break;
      }
      connection.reset();
      auto c = PgConnection::connect(options_.connect);
      if (c.ok()) {
        connection = *std::move(c);
        backoff = options_.backoff_initial;
        std::lock_guard lock(mutex_);
        ++reconnects_;
        continue;
      }
      last_error = c.status();
      // A malformed DSN will not get better by waiting.
      if (c.status().code() == absl::StatusCode::kInvalidArgument ||
          std::chrono::steady_clock::now() + backoff > job.deadline) {
        job.task(nullptr, last_error);
        break;
      }
      std::unique_lock lock(mutex_);
      if (ready_.wait_for(lock, backoff, [&] { return stopping_; })) {
        lock.unlock();
        job.task(nullptr, absl::CancelledError("storage pool shutting down"));
        break;
      }
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
}

}  // namespace tlsaudit::storage
