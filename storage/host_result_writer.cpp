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
    if (buffer_.size() + in_flight_ >= options_.buffer_capacity) {
      return absl::ResourceExhaustedError("storage write buffer is full");
    }
    buffer_.push_back(std::move(result));
  }
  changed_.notify_all();
  return absl::OkStatus();
}

bool HostResultWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return buffer_.empty() && in_flight_ == 0; });
}

HostResultWriterStats HostResultWriter::stats() const {
  std::lock_guard lock(mutex_);
  HostResultWriterStats s = stats_;
  s.buffered = buffer_.size() + in_flight_;
  return s;
}

void HostResultWriter::work() {
  std::unique_ptr<PgConnection> connection;
  auto backoff = options_.backoff_initial;
  // Results taken from the buffer, oldest first, with their failed attempts so far. They stay
  // counted as buffered (in_flight_) until stored or given up, so flush() and the buffer bound
  // see them.
  std::vector<v1::HostResult> batch;
  std::vector<int> attempts;
  const size_t batch_max = std::max<size_t>(1, options_.batch_hosts);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !buffer_.empty() || !batch.empty(); });
      if (stopping_) return;
      // Retried results first, then as many waiting ones as fit, in order.
      while (batch.size() < batch_max && !buffer_.empty()) {
        batch.push_back(std::move(buffer_.front()));
        buffer_.pop_front();
        attempts.push_back(0);
        ++in_flight_;
      }
    }
    std::vector<absl::StatusOr<v1::IngestOutcome>> outcomes;
    if (connection == nullptr || connection->broken()) {
      connection.reset();
      auto c = PgConnection::connect(options_.connect);
      if (c.ok()) {
        connection = *std::move(c);
        std::lock_guard lock(mutex_);
        ++stats_.reconnects;
      } else {
        outcomes.assign(batch.size(), c.status());
      }
    }
    if (connection != nullptr) {
      PgFindingStore store(*connection);
      if (batch_max == 1) {
        outcomes.push_back(store.ingest(batch.front()));
      } else {
        outcomes = store.ingestBatch(batch);
        std::lock_guard lock(mutex_);
        ++stats_.batches;
      }
    }

    // Lost sessions, deadlocks, serialization failures and results held back behind a failed
    // one pass; retrying them is always right (ingest is idempotent). Anything else may be the
    // result itself and is retried a few times.
    bool broken = connection != nullptr && connection->broken();
    std::vector<v1::HostResult> again;
    std::vector<int> again_attempts;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& outcome = outcomes[i];
      auto code = outcome.status().code();
      bool transient = !outcome.ok() && (code == absl::StatusCode::kUnavailable ||
                                         code == absl::StatusCode::kAborted || broken);
      if (!outcome.ok() && (transient || ++attempts[i] < options_.max_attempts)) {
        again.push_back(std::move(batch[i]));
        again_attempts.push_back(attempts[i]);
        continue;
      }
      if (done_) done_(batch[i], outcome);
      {
        std::lock_guard lock(mutex_);
        if (outcome.ok()) {
          ++stats_.stored;
          stats_.services_replayed += outcome->services_replayed();
        } else {
          ++stats_.given_up;
        }
        --in_flight_;
      }
      changed_.notify_all();
    }
    batch = std::move(again);
    attempts = std::move(again_attempts);
    if (batch.empty()) {
      backoff = options_.backoff_initial;
      continue;
    }
    if (broken) connection.reset();
    std::unique_lock lock(mutex_);
    ++stats_.retries;
    if (changed_.wait_for(lock, backoff, [&] { return stopping_; })) return;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

}  // namespace tlsaudit::storage
