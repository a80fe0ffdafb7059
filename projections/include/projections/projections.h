// The views of convledger, as pure folds over the log (see ledger/projection.h):
//
//   history        every version of every message, who/when/why of each change, delivery
//                  timeline, reactions, notes, consent and holds, and the flags dispute staff
//                  ask for first. For dispute staff and lawyers.
//   customer_view  exactly what the customer's app shows, and nothing else. Its own fold and
//                  its own column family: nothing renders it by filtering the history.
//   analytics      counters per tenant, agent and UTC day, and per template.
//
// Folds are deterministic (same log -> same bytes), do no I/O, read no clock. Every key of the
// history and customer_view states belongs to one conversation and starts with
// ConversationStatePrefix(conversation) = 'c' || be16(length) || id (the tag byte 'c' keeps the
// keys clear of the ledger's reserved 0x00 prefix, which a short id's length byte would hit; the
// length keeps "a" apart from "ab"). A conversation's state depends only on that conversation's
// events: folding one conversation alone gives exactly its part of the full state. That is what
// makes as-of reads cheap (fold one conversation up to a point), verifiable (equal to the stored
// state when the point is the checkpoint), and lets the ledger rebuild these two in conversation
// order (Projection::ConversationLocal). The analytics state is one conversation's working state
// under the same prefix, plus totals keyed by tenant, day, agent and template that conversations
// only add to (Projection::SharedKey): it is rebuilt in conversation order too, its totals held
// in memory across conversations; as-of analytics folds the whole log up to the point.
//
// Render* produce the JSON documented in README.md from any StateReader: the ledger's stored
// state (current view, no fold) or a MemoryState (an as-of fold).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/content.h"
#include "ledger/ledger.h"
#include "ledger/projection.h"
#include "ledger/status.h"

namespace convledger::projections {

inline constexpr char kHistory[] = "history";
inline constexpr char kCustomerView[] = "customer_view";
inline constexpr char kAnalytics[] = "analytics";

struct ProjectionOptions {
  // A deletion for everyone with no reason and no correction within this window is flagged
  // (`deleted_without_explanation`). Default: 10 minutes.
  int64_t explanation_window_us = 10LL * 60 * 1000000;
};

std::shared_ptr<Projection> MakeHistory(const ProjectionOptions& options = {});
std::shared_ptr<Projection> MakeCustomerView(const ProjectionOptions& options = {});
std::shared_ptr<Projection> MakeAnalytics(const ProjectionOptions& options = {});
// All three, in the order above: what every ledger opener (server, CLI) passes in
// Options::projections so the views are maintained by every writer.
std::vector<std::shared_ptr<Projection>> MakeAll(const ProjectionOptions& options = {});

// Where one conversation's state starts in the history and customer_view column families (see
// above): every key of that conversation, and only those, starts with it.
std::string ConversationStatePrefix(std::string_view conversation_id);

// ---- rendering ----
// NotFound (reason conversation_not_found) when the state has nothing for the conversation.
//
// Content of sealed events is kept in the state as ciphertext only and opened here, through
// `opener` (normally &ledger.Opener()): the plaintext when its keys exist, "[redacted]" or
// "[erased]" with who/when/why when they were destroyed. Without an opener (nullptr) sealed
// content renders as {"sealed":true} in the history and as the redaction placeholder in the
// customer view. An opener error (Corruption: content_auth_failed, unknown_key) fails the render.
Result<std::string> RenderHistory(StateReader& state, std::string_view conversation_id,
                                  ContentOpener* opener = nullptr);
Result<std::string> RenderCustomerView(StateReader& state, std::string_view conversation_id,
                                       ContentOpener* opener = nullptr);

struct AnalyticsQuery {
  std::string tenant;    // empty: every tenant
  std::string from_day;  // "YYYY-MM-DD", inclusive; empty: from the first day
  std::string to_day;    // "YYYY-MM-DD", inclusive; empty: to the last day
};
Result<std::string> RenderAnalytics(StateReader& state, const AnalyticsQuery& query);

// ---- as of any moment ----
// A point in the log: a global sequence (the log cut there: what the ledger knew) or a time
// (every event that had happened by then by the source clock, occurred_at <= time, as known
// now). Unset: the current state.
struct AsOf {
  uint64_t global_seq = 0;
  std::optional<int64_t> time_us;
  bool IsCurrent() const { return global_seq == 0 && !time_us; }
};
// Parses "123" (a global sequence) or an RFC 3339 time. InvalidArgument (invalid_as_of).
Result<AsOf> ParseAsOf(std::string_view text);

// The current view from stored state (no fold), or an as-of view folded from the log; sealed
// content is opened with ledger.Opener().
Result<std::string> History(Ledger& ledger, std::string_view conversation_id, const AsOf& as_of,
                            const ProjectionOptions& options = {});
Result<std::string> CustomerView(Ledger& ledger, std::string_view conversation_id,
                                 const AsOf& as_of, const ProjectionOptions& options = {});
Result<std::string> Analytics(Ledger& ledger, const AnalyticsQuery& query, const AsOf& as_of,
                              const ProjectionOptions& options = {});

// An in-memory state: a StateStore to fold into and a StateReader to render from.
class MemoryState final : public StateStore, public StateReader {
 public:
  Status Get(std::string_view key, std::string* value) override;
  void Put(std::string_view key, std::string_view value) override;
  void Delete(std::string_view key) override;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override;
  uint64_t Checkpoint() const override { return checkpoint_; }
  void set_checkpoint(uint64_t seq) { checkpoint_ = seq; }
  const std::map<std::string, std::string, std::less<>>& data() const { return data_; }

 private:
  std::map<std::string, std::string, std::less<>> data_;
  uint64_t checkpoint_ = 0;
};

}  // namespace convledger::projections
