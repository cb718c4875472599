// The ingest path of the daemon: host results are handed over without blocking and written by
// one dedicated thread, in order, several per transaction when several are waiting
// (PgFindingStore::ingestBatch). While PostgreSQL is unreachable (restart, failover, network)
// results wait in a bounded in-memory buffer and the write is retried with backoff on a new
// session; ingest is idempotent per (scan, service), so a commit whose acknowledgement was lost
// is not stored twice. A result that fails for a reason of its own does not hold up the others.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/pg_connection.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::storage {

struct HostResultWriterOptions {
  PgConnectOptions connect;
  size_t buffer_capacity = 10000;  // host results held (including those being written)
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
  // Attempts for errors other than a lost or unreachable server, a deadlock or a serialization
  // failure (those are retried for as long as it takes); a result still failing after them is
  // given up and reported.
  int max_attempts = 5;
  // At most this many waiting results are written together (one transaction unless two of them
  // name the same asset or service); 1 writes each result alone through ingest(). Results are
  // never held back to fill a batch: a lone result is written at once.
  size_t batch_hosts = 200;
};

struct HostResultWriterStats {
  uint64_t stored = 0;  // results committed
  uint64_t services_replayed = 0;
  uint64_t retries = 0;     // attempts after a failed one
  uint64_t reconnects = 0;  // sessions opened
  uint64_t given_up = 0;    // results dropped after max_attempts (see the callback)
  uint64_t batches = 0;     // ingestBatch calls (each one or more transactions)
  size_t buffered = 0;      // waiting or being written
};

class HostResultWriter {
 public:
  // Called on the writer thread after each result is stored (status ok) or given up, once per
  // result.
  using Callback = std::function<void(const tlsaudit::v1::HostResult& result,
                                      const absl::StatusOr<tlsaudit::v1::IngestOutcome>& outcome)>;

  explicit HostResultWriter(HostResultWriterOptions options, Callback done = nullptr);
  // Stops the thread; results still buffered are not written (flush() first).
  ~HostResultWriter();
  HostResultWriter(const HostResultWriter&) = delete;
  HostResultWriter& operator=(const HostResultWriter&) = delete;

  // Takes a result to write. kResourceExhausted when the buffer is full: the caller keeps the
  // result and slows down. observed_at is stamped now when unset, so retries write the same
  // values. Thread-safe, never blocks on the database.
  absl::Status enqueue(tlsaudit::v1::HostResult result);
  // Waits until every buffered result is stored or given up (its callback has returned); false
  // on timeout.
  bool flush(std::chrono::milliseconds timeout);
  HostResultWriterStats stats() const;

 private:
  void work();

  HostResultWriterOptions options_;
  Callback done_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<tlsaudit::v1::HostResult> buffer_;
  size_t in_flight_ = 0;  // results taken from buffer_ by the writer thread, not yet settled
  bool stopping_ = false;
  HostResultWriterStats stats_;
  std::thread worker_;
};

}  // namespace tlsaudit::storage
