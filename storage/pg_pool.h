// A fixed set of PostgreSQL sessions, each owned by its own worker thread, fed from one bounded
// queue. Callers (Asio handlers included) only ever enqueue: submit() never blocks and never
// touches the network; the result comes back through a callback on a pool thread or a future.
// A lost session is replaced on the next task, with exponential backoff while the server is
// unreachable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/pg_connection.h"

namespace tlsaudit::storage {

struct PgPoolOptions {
  PgConnectOptions connect;
  size_t connections = 2;        // worker threads, one session each
  size_t queue_capacity = 1024;  // tasks waiting; submit() refuses beyond
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  // How long a task may wait for a session (queueing plus reconnecting) before it is failed
  // with kUnavailable.
  std::chrono::milliseconds max_wait{10000};
};

class PgPool {
 public:
  // Starts the workers; sessions are opened on first use.
  explicit PgPool(PgPoolOptions options);
  // Fails queued tasks with kCancelled, waits for running ones, closes the sessions.
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // The task receives a live session, or nullptr and why none could be had (kUnavailable,
  // kCancelled at shutdown). It runs on a pool thread and must not keep the session. Returns
  // kResourceExhausted at once when the queue is full. Thread-safe, never blocks.
  using Task = std::function<void(PgConnection* connection, absl::Status status)>;
  absl::Status submit(Task task);

  // submit() with the task's result delivered through a future.
  template <typename T>
  std::future<absl::StatusOr<T>> run(std::function<absl::StatusOr<T>(PgConnection&)> fn) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
    auto future = promise->get_future();
    absl::Status queued = submit([promise, fn = std::move(fn)](PgConnection* c, absl::Status s) {
      if (c == nullptr) {
        promise->set_value(std::move(s));
      } else {
        promise->set_value(fn(*c));
      }
    });
    if (!queued.ok()) promise->set_value(queued);
    return future;
  }

  size_t queued() const;
  uint64_t reconnects() const;

 private:
  struct Job {
    Task task;
    std::chrono::steady_clock::time_point deadline;
  };
  void work();

  PgPoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  uint64_t reconnects_ = 0;
  std::vector<std::thread> workers_;
};

}  // namespace tlsaudit::storage
