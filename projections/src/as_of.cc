// The current views come from stored state (no fold); an as-of view folds the log up to the
// point asked for into a MemoryState and renders that with the same code.
#include <algorithm>
#include <cctype>

#include "ledger/time.h"
#include "projections/projections.h"

namespace convledger::projections {

std::vector<std::shared_ptr<Projection>> MakeAll(const ProjectionOptions& options) {
  return {MakeHistory(options), MakeCustomerView(options), MakeAnalytics(options)};
}

Result<AsOf> ParseAsOf(std::string_view text) {
  AsOf a;
  if (text.empty()) return a;
  bool digits = true;
  for (char c : text) digits &= std::isdigit(static_cast<unsigned char>(c)) != 0;
  if (digits) {
    if (text.size() > 19)
      return Status::InvalidArgument("invalid_as_of", "as_of sequence is out of range");
    a.global_seq = std::stoull(std::string(text));
    if (a.global_seq == 0)
      return Status::InvalidArgument("invalid_as_of", "as_of sequence starts at 1");
    return a;
  }
  auto t = ParseRfc3339(text);
  if (!t)
    return Status::InvalidArgument(
        "invalid_as_of", "as_of must be a global sequence or an RFC 3339 time, not \"" +
                             std::string(text) + "\"");
  a.time_us = *t;
  return a;
}

namespace {

uint64_t PinOf(Ledger& ledger, const AsOf& as_of) {
  const uint64_t last = ledger.LastGlobalSeq();
  return as_of.global_seq ? std::min(as_of.global_seq, last) : last;
}

// Folds the events of one conversation up to `as_of` into `state`.
Status FoldConversation(Ledger& ledger, Projection& projection, std::string_view conversation_id,
                        const AsOf& as_of, MemoryState* state) {
  ReadOptions ro;
  // Pin the read: the state is the log cut at `pin`, and says so in its checkpoint.
  const uint64_t pin = PinOf(ledger, as_of);
  ro.as_of_global_seq = pin;
  Status fold_error;
  Status st = ledger.ScanConversation(conversation_id, 0, ro, [&](const RawEvent& raw) {
    auto ev = DecodeRecord(raw.record);
    if (!ev.ok()) {
      fold_error = ev.status();
      return false;
    }
    if (as_of.time_us && ev->occurred_at_us.value_or(ev->recorded_at_us) > *as_of.time_us)
      return true;  // not yet happened at that time; later events may have (out of order)
    if (Status a = projection.Apply(*ev, *state); !a.ok()) {
      fold_error = a;
      return false;
    }
    return true;
  });
  if (!st.ok()) return st;
  if (!fold_error.ok()) return fold_error;
  state->set_checkpoint(pin);
  return Status::OK();
}

Status FoldAll(Ledger& ledger, Projection& projection, const AsOf& as_of, MemoryState* state) {
  ReadOptions ro;
  // Pin the read: the state is the log cut at `pin`, and says so in its checkpoint.
  const uint64_t pin = PinOf(ledger, as_of);
  ro.as_of_global_seq = pin;
  Status fold_error;
  Status st = ledger.ScanGlobal(0, ro, [&](const RawEvent& raw) {
    auto ev = DecodeRecord(raw.record);
    if (!ev.ok()) {
      fold_error = ev.status();
      return false;
    }
    if (as_of.time_us && ev->occurred_at_us.value_or(ev->recorded_at_us) > *as_of.time_us)
      return true;
    if (Status a = projection.Apply(*ev, *state); !a.ok()) {
      fold_error = a;
      return false;
    }
    return true;
  });
  if (!st.ok()) return st;
  if (!fold_error.ok()) return fold_error;
  state->set_checkpoint(pin);
  return Status::OK();
}

template <typename RenderFn>
Result<std::string> ConversationView(Ledger& ledger, std::string_view name,
                                     std::shared_ptr<Projection> projection,
                                     std::string_view conversation_id, const AsOf& as_of,
                                     RenderFn render) {
  if (as_of.IsCurrent()) {
    auto reader = ledger.NewStateReader(name);
    if (!reader.ok()) return reader.status();
    return render(**reader, conversation_id);
  }
  MemoryState state;
  if (Status st = FoldConversation(ledger, *projection, conversation_id, as_of, &state); !st.ok())
    return st;
  return render(state, conversation_id);
}

}  // namespace

Result<std::string> History(Ledger& ledger, std::string_view conversation_id, const AsOf& as_of,
                            const ProjectionOptions& options) {
  return ConversationView(ledger, kHistory, MakeHistory(options), conversation_id, as_of,
                          [&ledger](StateReader& r, std::string_view c) {
                            return RenderHistory(r, c, &ledger.Opener());
                          });
}

Result<std::string> CustomerView(Ledger& ledger, std::string_view conversation_id,
                                 const AsOf& as_of, const ProjectionOptions& options) {
  return ConversationView(
      ledger, kCustomerView, MakeCustomerView(options), conversation_id, as_of,
      [&ledger](StateReader& r, std::string_view c) {
        return RenderCustomerView(r, c, &ledger.Opener());
      });
}

Result<std::string> Analytics(Ledger& ledger, const AnalyticsQuery& query, const AsOf& as_of,
                              const ProjectionOptions& options) {
  if (as_of.IsCurrent()) {
    auto reader = ledger.NewStateReader(kAnalytics);
    if (!reader.ok()) return reader.status();
    return RenderAnalytics(**reader, query);
  }
  MemoryState state;
  auto projection = MakeAnalytics(options);
  if (Status st = FoldAll(ledger, *projection, as_of, &state); !st.ok()) return st;
  return RenderAnalytics(state, query);
}

}  // namespace convledger::projections
