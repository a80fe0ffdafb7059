// Projections: views folded from the log, kept by the ledger in the same WriteBatch as the
// events they fold (read-your-writes; a crash never leaves a view ahead of or behind the log).
//
// The ledger defines this small interface and calls it; projections/ implements it (like
// LevelDB's WriteBatch::Handler). A projection is a pure fold: given the same state and event it
// makes the same writes. It does no I/O besides its StateStore, reads no clock, logs nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger {

// The key-value state of one projection while it folds. Reads see the writes made earlier in
// the same fold (the same commit group or rebuild chunk), then the committed state.
// Keys starting with byte 0x00 are reserved for the ledger (checkpoint).
class StateStore {
 public:
  virtual ~StateStore() = default;
  // Returns NotFound (reason "not_found") when the key is absent.
  virtual Status Get(std::string_view key, std::string* value) = 0;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
};

// Read access to a projection's committed state (or an in-memory fold of it), in key order.
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual Status Get(std::string_view key, std::string* value) = 0;
  // Calls fn for every key starting with `prefix`, in key order; fn returning false stops.
  virtual Status Scan(std::string_view prefix,
                      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;
  // The last global sequence folded into the state this reader sees.
  virtual uint64_t Checkpoint() const = 0;
};

// Longest key a projection may write (keys are bounded so the ledger can clear a state with
// one range deletion).
inline constexpr size_t kMaxStateKeyBytes = 1000;

class Projection {
 public:
  virtual ~Projection() = default;
  // Stable name, [a-z0-9_]+. State lives in the column family "proj.<name>".
  virtual std::string_view Name() const = 0;
  // Version of the fold. When it changes, the ledger rebuilds the state from the log in the
  // background at open; the other projections stay available meanwhile.
  virtual uint32_t Version() const = 0;
  // Folds one committed event (with its assigned fields) into the state. An error fails the
  // append that carries the event (nothing of it is written).
  virtual Status Apply(const Event& event, StateStore& store) = 0;
  // True when every key the fold writes for an event belongs to that event's conversation and
  // depends only on that conversation's events (folding one conversation alone, from an empty
  // state, gives exactly its part of the full state, whatever the other conversations hold).
  // The ledger then rebuilds the state from empty by reading the log in conversation order (the
  // `events` column family's key order, a contiguous scan) instead of global order, one
  // conversation at a time in memory. Default false: folded in global order.
  virtual bool ConversationLocal() const { return false; }
  // With ConversationLocal(): true for a key that belongs to no one conversation but holds
  // totals every conversation adds to (analytics' counters per tenant and day). A
  // conversation-order rebuild keeps these keys in memory across conversations and writes them
  // at the end. That gives the state a global-order fold gives only when the fold's updates of
  // such a key commute: counters added to, samples counted into a histogram kept in a fixed
  // order, so that the final bytes depend on which updates were made and not on the order the
  // conversations came in (each conversation's own events still come in log order). The other
  // keys obey ConversationLocal() as above. Default: no shared keys.
  virtual bool SharedKey(std::string_view key) const {
    (void)key;
    return false;
  }
};

// Where a projection stands.
struct ProjectionInfo {
  std::string name;
  uint32_t version = 0;
  uint64_t checkpoint = 0;  // last global sequence folded
  bool ready = false;       // false while it is being rebuilt
  // While not ready: how far the catch-up has got, as a count of events of the log folded
  // (>= checkpoint; a conversation-order rebuild writes its checkpoint only when it is done).
  uint64_t progress = 0;
  // Why the background catch-up stopped, when its fold or storage failed (empty otherwise).
  // The projection then stays not ready (reads answer Busy) until the ledger is reopened.
  std::string error;
};

struct RebuildReport {
  std::string name;
  uint64_t events = 0;          // events folded
  uint64_t checkpoint = 0;      // the global sequence both states are at
  Digest live_digest{};         // digest of the incrementally maintained state
  Digest rebuilt_digest{};      // digest of the state folded from the log alone
  bool equal = false;
  std::string first_difference;  // the first key that differs, when not equal
  bool replaced = false;         // the live state was replaced by the rebuilt one
};

}  // namespace convledger
