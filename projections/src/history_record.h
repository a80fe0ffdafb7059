// The per-message record of the history projection. Private to projections/.
//
// A MessageRec holds the raw facts the fold has seen about one message (the send, edits,
// deletions, corrections both ways, redactions, statuses, reactions, replies), each list kept in
// platform order (occurred_at, then conversation_seq) as entries are inserted. It is stored in
// a compact binary form (EncodeMessage) for the fold to update, and rendered (RenderMessage) to
// the JSON that RenderHistory prints, with every derived field (version numbers, recording
// order, status conflicts, deletion context, flags) computed from the raw facts alone. So a
// message's JSON does not depend on the order in which its events arrived, only on which
// arrived: an observation recorded before its original is placed once the original comes in.
//
// Redaction is applied to the stored facts themselves: once a message is redacted no version of
// its content, template parameters or media captions is kept, and content added later (an
// observation recorded after the redaction) is stored already redacted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "history_json.h"
#include "ledger/event.h"

namespace convledger::projections::history {

// What replaces every piece of redacted content.
inline constexpr char kRedacted[] = "[redacted]";
// What replaces content whose subject was erased (subject.erased), at render time.
inline constexpr char kErased[] = "[erased]";

// Who did something and when.
struct Ref {
  Actor actor;
  uint64_t cseq = 0;     // conversation_seq
  uint64_t gseq = 0;     // global_seq
  int64_t occurred = 0;  // occurred_at, microseconds
  int64_t recorded = 0;  // recorded_at, microseconds
};

// A compact pointer to an event (flags, cross-references).
struct Ptr {
  uint64_t cseq = 0;
  uint64_t gseq = 0;
  int64_t occurred = 0;
  EventType type = EventType::kMessageSent;
};

class Writer;
class Reader;
// Binary form of a Ptr inside stored records (history_codec.h).
void PutPtr(Writer& w, const Ptr& p);
void GetPtr(Reader& r, Ptr* p);

struct ContentRec {
  bool sealed = false;  // encrypted in the log: never decrypted here
  bool redacted = false;
  std::string text;
  std::vector<Media> media;
  // sealed: SerializeSealed of the envelope (ciphertext; opened only when rendering). Empty when
  // the event said it was sealed but carried no envelope.
  std::string sealed_bytes;
};

// The marketing consent the conversation held when a template send was recorded.
struct ConsentSnap {
  bool known = false;  // false: never given ("none")
  Ptr ptr;             // the consent.changed event, when known
  std::string scope, state, source;
};

struct OriginalRec {
  Ref ref;
  Channel channel = Channel::kUnknown;
  Direction direction = Direction::kUnknown;
  std::string reply_to;
  bool has_template = false;
  Template tmpl;
  bool params_sealed = false;
  ConsentSnap consent;  // meaningful with has_template
};

struct VersionRec {
  Ref ref;
  bool original = false;
  ContentRec content;
  std::string reason;  // edits
};

struct DeletionRec {
  Ref ref;
  DeleteScope scope = DeleteScope::kUnknown;
  std::string reason_code, reason;
  int64_t deadline = 0;        // explanation deadline (scope everyone)
  bool window_passed = false;  // a recorded event showed the deadline passed
  Ptr window_passed_by;
};

// A correction seen from either side: `other_id` is the replacement (corrected_by) or the
// wrong message (corrects).
struct LinkRec {
  Ref ref;
  std::string other_id, reason_code, explanation;
};

struct RedactionRec {
  Ref ref;
  std::string reason;
  bool override_hold = false;  // applied despite a legal hold
};

struct StatusRec {
  Ref ref;
  Delivery status = Delivery::kUnknown;
  std::string error_code, error_title;
};

struct ReactionRec {
  Ref ref;
  ReactionAction action = ReactionAction::kUnknown;
  std::string emoji;
};

struct ReplyRec {
  Ref ref;
  std::string message_id;
  Direction direction = Direction::kUnknown;
};

struct MessageRec {
  std::string id;
  std::optional<OriginalRec> original;
  std::vector<VersionRec> versions;  // the original first, then edits in platform order
  std::vector<DeletionRec> deletions;
  std::vector<LinkRec> corrected_by;
  std::vector<LinkRec> corrects;
  std::vector<RedactionRec> redactions;
  std::vector<StatusRec> statuses;
  std::vector<ReactionRec> reactions;
  std::vector<ReplyRec> replies;
  std::vector<uint64_t> cseqs;         // this message's own events, in recording order
  std::vector<std::string> flag_keys;  // where its flags are stored now (key suffixes)
  uint64_t rendered_bytes = 0;         // size of its stored JSON (record and flags)
};

void EncodeMessage(const MessageRec& m, std::string* out);
bool DecodeMessage(std::string_view in, MessageRec* out);

// occurred_at of a committed event (the ledger always assigns it; recorded_at as a fallback).
int64_t OccurredUs(const Event& e);
Ref RefOf(const Event& e);
Ptr PtrOf(const Event& e);
ContentRec ContentOf(const Event& e);

// ---- facts ----
// A second send of the same id (the ledger refuses one) is ignored: the first original stays.
void AddSend(MessageRec& m, const Event& e, const ConsentSnap& consent);
void AddEdit(MessageRec& m, const Event& e);
// `passed_by`: an already recorded event whose occurred_at is past the deletion's explanation
// deadline, if any.
void AddDeletion(MessageRec& m, const Event& e, int64_t explanation_window_us,
                 const std::optional<Ptr>& passed_by);
void AddCorrectedBy(MessageRec& wrong, const Event& correction);
void AddCorrects(MessageRec& replacement, const Event& correction);
void AddRedaction(MessageRec& m, const Event& e);
void AddStatus(MessageRec& m, const Event& e);
void AddReaction(MessageRec& m, const Event& e);
void AddReply(MessageRec& target, const Event& reply_send);
// Marks the explanation window of the deletion recorded at `deletion_cseq` as passed.
void MarkWindowPassed(MessageRec& m, uint64_t deletion_cseq, const Ptr& evidence);

// ---- rendering ----
struct FlagOut {
  std::string key;  // order among all flags: be64(last raising cseq) type 0x00 be64(first) id
  std::string json;
};
struct PendingOut {  // a deletion whose explanation window has not been seen to pass
  uint64_t cseq = 0, gseq = 0;
  int64_t deadline = 0;
};
struct MessageView {
  std::string json;
  std::vector<FlagOut> flags;  // sorted by key
  std::vector<PendingOut> pending;
};
void RenderMessage(const MessageRec& m, MessageView* out);

// Shared JSON pieces (keys sorted).
void WriteActor(JsonOut& j, const Actor& a);
void WritePtr(JsonOut& j, const Ptr& p);
// The content of one event as it is stored: a content marker (below), which RenderHistory
// expands (opening sealed content through its ContentOpener, or showing "[redacted]" or
// "[erased]"). `cseq` is the conversation_seq of the event that carried the content;
// `redaction` the message's first redaction, if any.
void WriteContent(JsonOut& j, const ContentRec& c, uint64_t cseq, const RedactionRec* redaction);
// The content object as shown (plaintext or opened content).
void WriteOpenContent(JsonOut& j, const ContentRec& c);
// who/when/why of a redaction or an erasure, as "removed_by" shows it.
void WriteRemoval(JsonOut& j, const Ref& ref, EventType type, std::string_view reason,
                  bool override_hold);

// ---- content markers ----
// The stored history JSON holds no content of sealed events, only their ciphertext, and content
// must be shown as "[erased]" once a later subject.erased covers it: so every content value (and
// the template parameters) is stored as a marker, 0x01 || be32(length) || payload, in place of a
// JSON value. JsonOut never writes a raw control byte (it escapes them), so 0x01 cannot occur
// anywhere else in a stored fragment. RenderHistory replaces each marker by a JSON value.
inline constexpr char kMarkerByte = '\x01';
enum class MarkerKind : uint8_t { kContent = 1, kParameters = 2 };
struct Marker {
  MarkerKind kind = MarkerKind::kContent;
  uint64_t cseq = 0;      // the event whose content it is
  bool sealed = false;
  std::string data;       // sealed: SerializeSealed bytes (may be empty); else the JSON value
  bool redacted = false;  // the message was redacted (content already removed when plaintext)
  std::string removal;    // redacted: the redaction's WriteRemoval JSON
};
void WriteMarker(JsonOut& j, const Marker& m);
// A Marker as read back: its strings point into the fragment it was read from.
struct MarkerView {
  MarkerKind kind = MarkerKind::kContent;
  uint64_t cseq = 0;
  bool sealed = false;
  std::string_view data;
  bool redacted = false;
  std::string_view removal;
};
// Parses the marker at the start of `in` (which starts with kMarkerByte); advances `in`.
bool ReadMarker(std::string_view* in, MarkerView* m);

}  // namespace convledger::projections::history
