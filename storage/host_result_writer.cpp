#include "storage/host_result_writer.h"

#include <algorithm>

#include "storage/pg_finding_store.h"
#include "storage/timestamps.h"

namespace tlsaudit::storage {

namespace v1 = tlsaudit::v1;

HostResultWriter::HostResultWriter(HostResultWriterOptions options, Callback done)
    : options_(std::move(options)), done_(std::move(done)) {
  worker_ = std::thread([this] { work(); });
}

HostResultWriter::~HostResultWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

absl::Status HostResultWriter::enqueue(v1::HostResult result) {
  if (!result.has_observed_at()) *result.mutable_observed_at() = nowTimestamp();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return absl::CancelledError("writer stopped");
    if (buffer_.size() >= options_.buffer_capacity) {
      return absl::ResourceExhaustedError("storage write buffer is full");
    }
    buffer_.push_back(std::move(result));
  }
  changed_.notify_all();
  return absl::OkStatus();
}

bool HostResultWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return buffer_.empty(); });
}

HostResultWriterStats HostResultWriter::stats() const {
  std::lock_guard lock(mutex_);
  HostResultWriterStats s = stats_;
  s.buffered = buffer_.size();
  return s;
}

void HostResultWriter::work() {
  std::unique_ptr<PgConnection> connection;
  auto backoff = options_.backoff_initial;
  int attempts = 0;
  for (;;) {
    const v1::HostResult* front = nullptr;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !buffer_.empty(); });
      if (stopping_) return;
      // The result stays in the buffer until it is stored, so flush() and the buffer bound
      // count it; only this thread pops, so the reference stays valid while unlocked.
      front = &buffer_.front();
    }
    absl::StatusOr<v1::IngestOutcome> outcome = absl::UnavailableError("no database session");
    if (connection == nullptr || connection->broken()) {
      connection.reset();
      auto c = PgConnection::connect(options_.connect);
      if (c.ok()) {
        connection = *std::move(c);
        std::lock_guard lock(mutex_);
        ++stats_.reconnects;
      } else {
        outcome = c.status();
      }
    }
    if (connection != nullptr) outcome = PgFindingStore(*connection).ingest(*front);

    // Lost sessions, deadlocks and serialization failures pass; retrying them is always right
    // (ingest is idempotent). Anything else may be the result itself and is retried a few times.
    auto code = outcome.status().code();
    bool transient = !outcome.ok() && (code == absl::StatusCode::kUnavailable ||
                                       code == absl::StatusCode::kAborted ||
                                       (connection != nullptr && connection->broken()));
    if (!outcome.ok() && (transient || ++attempts < options_.max_attempts)) {
      if (connection != nullptr && connection->broken()) connection.reset();
      std::unique_lock lock(mutex_);
      ++stats_.retries;
      if (changed_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    backoff = options_.backoff_initial;
    attempts = 0;
    if (done_) done_(*front, outcome);
    {
      std::lock_guard lock(mutex_);
      if (outcome.ok()) {
        ++stats_.stored;
        stats_.services_replayed += outcome->services_replayed();
      } else {
        ++stats_.given_up;
      }
      buffer_.pop_front();
    }
    changed_.notify_all();
  }
}

}  // namespace tlsaudit::storage
