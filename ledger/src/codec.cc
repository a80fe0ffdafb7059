#include "codec.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <random>

#include "crypto.h"
#include "ledger/ledger.h"
#include "schemas/events_generated.h"

namespace convledger::codec {
namespace fbs = convledger::fb;

namespace {

constexpr std::string_view kHashDomain = "convledger/event/v1";

flatbuffers::Offset<flatbuffers::String> Str(flatbuffers::FlatBufferBuilder& b,
                                             const std::string& s) {
  return s.empty() ? 0 : b.CreateString(s);
}

// The sealed envelope: a ContentPlain buffer, in plaintext (no key) or AES-256-GCM under the
// event's data key with its key id as associated data.
flatbuffers::Offset<fbs::SealedContent> Seal(flatbuffers::FlatBufferBuilder& b,
                                              const Content* content,
                                              const std::vector<std::string>* params,
                                              const SealKey* key) {
  thread_local flatbuffers::FlatBufferBuilder inner(256);
  inner.Clear();
  inner.ForceDefaults(true);
  flatbuffers::Offset<flatbuffers::String> text;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::Media>>> media;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> tparams;
  if (content) {
    text = Str(inner, content->text);
    if (!content->media.empty()) {
      std::vector<flatbuffers::Offset<fbs::Media>> items;
      for (const auto& m : content->media)
        items.push_back(fbs::CreateMedia(inner, Str(inner, m.mime), m.size, Str(inner, m.sha256),
                                         Str(inner, m.caption), Str(inner, m.reference),
                                         Str(inner, m.filename)));
      media = inner.CreateVector(items);
    }
  }
  if (params && !params->empty()) tparams = inner.CreateVectorOfStrings(*params);
  inner.Finish(fbs::CreateContentPlain(inner, text, media, tparams));
  if (key) {
    const std::string_view plain(reinterpret_cast<const char*>(inner.GetBufferPointer()),
                                 inner.GetSize());
    const std::string ct = crypto::Encrypt(key->key, key->nonce, key->key_id, plain);
    auto kid = b.CreateString(key->key_id);
    auto nonce = b.CreateVector(reinterpret_cast<const uint8_t*>(key->nonce.data()),
                                key->nonce.size());
    auto bytes = b.CreateVector(reinterpret_cast<const uint8_t*>(ct.data()), ct.size());
    return fbs::CreateSealedContent(b, fbs::Sealing::Aes256Gcm, kid, nonce, bytes);
  }
  b.ForceVectorAlignment(inner.GetSize(), 1, 8);
  auto bytes = b.CreateVector(inner.GetBufferPointer(), inner.GetSize());
  return fbs::CreateSealedContent(b, fbs::Sealing::None, 0, 0, bytes);
}

}  // namespace

namespace {

// SHA-256 with the algorithm fetched once and a context reused per thread (EVP_Digest fetches
// and allocates on every call: ~0.85 us against ~0.48 us for 700 bytes).
class Sha256Hasher {
 public:
  Sha256Hasher() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {}
  void Begin() { EVP_DigestInit_ex(ctx_.get(), Md(), nullptr); }
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
  Digest Finish() {
    Digest d{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), d.data(), &len);
    return d;
  }

 private:
  static const EVP_MD* Md() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

Sha256Hasher& ThreadHasher() {
  thread_local Sha256Hasher hasher;
  return hasher;
}

}  // namespace

Digest Sha256(std::string_view data) {
  Sha256Hasher& h = ThreadHasher();
  h.Begin();
  h.Update(data.data(), data.size());
  return h.Finish();
}

Digest EventHash(const Digest& prev_hash, std::string_view event_bytes) {
  Sha256Hasher& h = ThreadHasher();
  h.Begin();
  h.Update(kHashDomain.data(), kHashDomain.size());
  h.Update(prev_hash.data(), prev_hash.size());
  h.Update(event_bytes.data(), event_bytes.size());
  return h.Finish();
}

EventId NewEventId() {
  // 128 random bits per event from a per-thread generator seeded once from OpenSSL's CSPRNG
  // (RAND_bytes per event cost ~7% of an append). Event ids need uniqueness, not secrecy.
  thread_local std::mt19937_64 rng = [] {
    uint64_t seed[4] = {};
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed), sizeof seed) != 1) {
      std::random_device rd;
      for (auto& s : seed) s = (uint64_t{rd()} << 32) | rd();
    }
    std::seed_seq seq{seed[0], seed[1], seed[2], seed[3]};
    return std::mt19937_64(seq);
  }();
  EventId id{};
  const uint64_t a = rng(), b = rng();
  for (int i = 0; i < 8; ++i) {
    id[i] = static_cast<uint8_t>(a >> (8 * i));
    id[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  id[6] = static_cast<uint8_t>((id[6] & 0x0f) | 0x40);
  id[8] = static_cast<uint8_t>((id[8] & 0x3f) | 0x80);
  return id;
}

namespace {

bool IsZero(const Digest& d) {
  for (uint8_t x : d)
    if (x) return false;
  return true;
}

// Builds the Event table into `b`; the evidence digest only when `with_evidence` and set; the
// content sealed under `key` when given.
void BuildEvent(flatbuffers::FlatBufferBuilder& b, const Event& e, bool with_evidence,
                const SealKey* key) {
  b.Clear();
  b.ForceDefaults(true);
  flatbuffers::Offset<void> body;
  fbs::Body body_type = fbs::Body::NONE;
  auto mid = Str(b, e.message_id);
  switch (e.type) {
    case EventType::kMessageSent: {
      auto sealed = Seal(b, e.content ? &*e.content : nullptr,
                         e.template_ ? &e.template_->parameters : nullptr, key);
      flatbuffers::Offset<fbs::Template> tmpl;
      if (e.template_)
        tmpl = fbs::CreateTemplate(b, Str(b, e.template_->name), Str(b, e.template_->language),
                                   Str(b, e.template_->category));
      body = fbs::CreateMessageSent(b, mid, static_cast<fbs::Direction>(e.direction), sealed,
                                    Str(b, e.reply_to), tmpl, Str(b, e.kind))
                 .Union();
      body_type = fbs::Body::MessageSent;
      break;
    }
    case EventType::kMessageEdited: {
      auto sealed = Seal(b, e.content ? &*e.content : nullptr, nullptr, key);
      body = fbs::CreateMessageEdited(b, mid, sealed, Str(b, e.reason)).Union();
      body_type = fbs::Body::MessageEdited;
      break;
    }
    case EventType::kMessageDeleted:
      body = fbs::CreateMessageDeleted(b, mid, static_cast<fbs::DeleteScope>(e.scope),
                                       Str(b, e.reason_code), Str(b, e.reason))
                 .Union();
      body_type = fbs::Body::MessageDeleted;
      break;
    case EventType::kMessageCorrected:
      body = fbs::CreateMessageCorrected(b, mid, Str(b, e.replacement_message_id),
                                         Str(b, e.reason_code), Str(b, e.explanation))
                 .Union();
      body_type = fbs::Body::MessageCorrected;
      break;
    case EventType::kMessageRedacted: {
      // Fields added later are written only when set, so earlier events keep their bytes.
      auto reason = Str(b, e.reason);
      fbs::MessageRedactedBuilder rb(b);
      rb.add_message_id(mid);
      rb.add_reason(reason);
      if (e.override_hold) rb.add_override_hold(true);
      body = rb.Finish().Union();
      body_type = fbs::Body::MessageRedacted;
      break;
    }
    case EventType::kSubjectErased:
      body = fbs::CreateSubjectErased(b, Str(b, e.subject), Str(b, e.reason), e.override_hold)
                 .Union();
      body_type = fbs::Body::SubjectErased;
      break;
    case EventType::kErasureRefused:
      body = fbs::CreateErasureRefused(b, static_cast<uint8_t>(e.refused), mid, Str(b, e.subject),
                                       Str(b, e.reason), Str(b, e.case_ref))
                 .Union();
      body_type = fbs::Body::ErasureRefused;
      break;
    case EventType::kMessageStatus:
      body = fbs::CreateDeliveryStatus(b, mid, static_cast<fbs::Delivery>(e.status),
                                       Str(b, e.error_code), Str(b, e.error_title))
                 .Union();
      body_type = fbs::Body::DeliveryStatus;
      break;
    case EventType::kMessageReaction:
      body = fbs::CreateReaction(b, mid, Str(b, e.emoji), static_cast<fbs::ReactionAction>(e.action))
                 .Union();
      body_type = fbs::Body::Reaction;
      break;
    case EventType::kConsentChanged:
      body = fbs::CreateConsentChanged(b, static_cast<fbs::ConsentState>(e.consent),
                                       Str(b, e.consent_scope), Str(b, e.source))
                 .Union();
      body_type = fbs::Body::ConsentChanged;
      break;
    case EventType::kLegalHoldChanged: {
      auto case_ref = Str(b, e.case_ref);
      fbs::LegalHoldBuilder hb(b);
      hb.add_hold(static_cast<fbs::HoldAction>(e.hold));
      hb.add_case_ref(case_ref);
      if (e.hold_scope != HoldScope::kConversation)
        hb.add_scope(static_cast<fbs::HoldScope>(e.hold_scope));
      body = hb.Finish().Union();
      body_type = fbs::Body::LegalHold;
      break;
    }
    case EventType::kNoteAdded: {
      auto sealed = Seal(b, e.content ? &*e.content : nullptr, nullptr, key);
      body = fbs::CreateInternalNote(b, sealed).Union();
      body_type = fbs::Body::InternalNote;
      break;
    }
  }
  auto actor = fbs::CreateActor(b, static_cast<fbs::ActorKind>(e.actor.kind), Str(b, e.actor.id),
                                Str(b, e.actor.display));
  auto conv = b.CreateString(e.conversation_id);
  auto ikey = Str(b, e.idempotency_key);
  auto tenant = Str(b, e.tenant);
  // The subject sits in the envelope of a conversation's first event; a subject.erased /
  // erasure.refused carries it in its body instead.
  auto subject = e.type == EventType::kSubjectErased || e.type == EventType::kErasureRefused
                     ? flatbuffers::Offset<flatbuffers::String>()
                     : Str(b, e.subject);
  fbs::Id128 id(0, 0);
  fbs::Digest prev;
  fbs::EventBuilder eb(b);
  eb.add_global_seq(0);
  eb.add_conversation_seq(0);
  eb.add_occurred_at_us(e.occurred_at_us.value_or(0));
  eb.add_recorded_at_us(0);
  eb.add_event_id(&id);
  eb.add_prev_hash(&prev);
  eb.add_conversation_id(conv);
  eb.add_idempotency_key(ikey);
  eb.add_actor(actor);
  eb.add_tenant(tenant);
  eb.add_body(body);
  eb.add_channel(static_cast<fbs::Channel>(e.channel));
  eb.add_body_type(body_type);
  // Only written when set: events without evidence keep exactly the bytes they had before the
  // field existed (and their hashes with them).
  fbs::Digest evidence;
  if (with_evidence && !IsZero(e.evidence)) {
    std::memcpy(evidence.mutable_b()->Data(), e.evidence.data(), 32);
    eb.add_evidence(&evidence);
  }
  if (!subject.IsNull()) eb.add_subject(subject);
  b.Finish(eb.Finish());
}

}  // namespace

Encoded EncodeEvent(const Event& e, const SealKey* key,
                    std::optional<SealedContent>* sealed_out) {
  // Builders are reused per thread: their buffers stay allocated between events.
  thread_local flatbuffers::FlatBufferBuilder b(1024);
  Encoded out;
  if (key) {
    // Sealed content is new random bytes on every encoding (a fresh data key and nonce), so the
    // fingerprint is a keyed hash of the plaintext encoding, without evidence: a retry with the
    // same content is recognised, and the stored fingerprint says nothing about the content to
    // anyone without the ledger's fingerprint key.
    BuildEvent(b, e, /*with_evidence=*/false, nullptr);
    out.fingerprint = crypto::Hmac(
        key->fingerprint_key,
        std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
    BuildEvent(b, e, /*with_evidence=*/true, key);
    out.bytes.assign(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    if (sealed_out) {
      const auto* ev = flatbuffers::GetRoot<fbs::Event>(out.bytes.data());
      const fbs::SealedContent* sc = nullptr;
      if (const auto* m = ev->body_as_MessageSent()) sc = m->content();
      if (const auto* m = ev->body_as_MessageEdited()) sc = m->content();
      if (const auto* m = ev->body_as_InternalNote()) sc = m->content();
      if (sc && sc->sealing() != fbs::Sealing::None) {
        SealedContent s;
        s.sealing = static_cast<Sealing>(sc->sealing());
        s.key_id = sc->key_id() ? sc->key_id()->str() : std::string();
        if (sc->nonce())
          s.nonce.assign(reinterpret_cast<const char*>(sc->nonce()->data()), sc->nonce()->size());
        if (sc->bytes())
          s.bytes.assign(reinterpret_cast<const char*>(sc->bytes()->data()), sc->bytes()->size());
        *sealed_out = std::move(s);
      }
    }
    return out;
  }
  if (!IsZero(e.evidence)) {
    // The fingerprint leaves the evidence out: Meta may redeliver the same message (same id,
    // same content) inside a different body, and that is a duplicate, not a conflict. So the
    // fingerprint is taken over the event built without it, then the stored bytes with it.
    BuildEvent(b, e, /*with_evidence=*/false, nullptr);
    out.fingerprint =
        Sha256(std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
    BuildEvent(b, e, /*with_evidence=*/true, nullptr);
    out.bytes.assign(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    return out;
  }
  BuildEvent(b, e, /*with_evidence=*/false, nullptr);
  out.bytes.assign(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  out.fingerprint = Sha256(out.bytes);
  return out;
}

void PatchAssigned(std::string* bytes, const Assigned& a) {
  auto* ev = flatbuffers::GetMutableRoot<fbs::Event>(bytes->data());
  ev->mutate_global_seq(a.global_seq);
  ev->mutate_conversation_seq(a.conversation_seq);
  ev->mutate_recorded_at_us(a.recorded_at_us);
  ev->mutate_occurred_at_us(a.occurred_at_us);
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) {
    hi = (hi << 8) | a.event_id[i];
    lo = (lo << 8) | a.event_id[8 + i];
  }
  ev->mutable_event_id()->mutate_hi(hi);
  ev->mutable_event_id()->mutate_lo(lo);
  auto* prev = ev->mutable_prev_hash()->mutable_b();
  for (size_t i = 0; i < 32; ++i) prev->Mutate(i, a.prev_hash[i]);
}

std::string BuildRecord(std::string_view event_bytes, const Digest& hash) {
  thread_local flatbuffers::FlatBufferBuilder b(1024);
  b.Clear();
  b.ForceDefaults(true);
  b.ForceVectorAlignment(event_bytes.size(), 1, 8);
  auto ev = b.CreateVector(reinterpret_cast<const uint8_t*>(event_bytes.data()),
                           event_bytes.size());
  fbs::Digest d;
  std::memcpy(d.mutable_b()->Data(), hash.data(), 32);
  b.Finish(fbs::CreateRecord(b, 1, ev, &d));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

namespace {

// FlatBuffers reads scalars in place; a RocksDB value may sit at any address. Records at an
// unaligned address are copied to an aligned buffer first, so no read is ever misaligned.
class AlignedCopy {
 public:
  std::string_view Align(std::string_view in) {
    if (reinterpret_cast<uintptr_t>(in.data()) % 8 == 0) return in;
    if (buf_.capacity() < in.size() + 8) buf_.reserve(in.size() + 64);
    buf_.assign(in.data(), in.size());  // std::string storage is malloc-aligned
    return buf_;
  }

 private:
  std::string buf_;
};

Status Corrupt(const std::string& what) { return Status::Corruption("corrupt_record", what); }

const fbs::Event* VerifiedEvent(std::string_view record, const fbs::Record** rec_out) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(record.data()), record.size());
  if (!fbs::VerifyRecordBuffer(v)) return nullptr;
  const fbs::Record* rec = fbs::GetRecord(record.data());
  if (!rec->event() || !rec->hash()) return nullptr;
  const fbs::Event* ev = rec->event_nested_root();
  if (!ev || !ev->conversation_id() || !ev->prev_hash() || !ev->event_id() || !ev->body())
    return nullptr;
  *rec_out = rec;
  return ev;
}

Digest ToDigest(const fbs::Digest* d) {
  Digest out{};
  std::memcpy(out.data(), d->b()->Data(), 32);
  return out;
}

std::string Read(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

Status DecodeSealed(const fbs::SealedContent* sc, Event* e,
                    std::vector<std::string>* template_params) {
  if (!sc) return Status::OK();
  e->content_sealing = static_cast<Sealing>(sc->sealing());
  if (sc->sealing() != fbs::Sealing::None) {  // opened by the ledger's ContentOpener
    SealedContent sealed;
    sealed.sealing = static_cast<Sealing>(sc->sealing());
    sealed.key_id = Read(sc->key_id());
    if (sc->nonce())
      sealed.nonce.assign(reinterpret_cast<const char*>(sc->nonce()->data()), sc->nonce()->size());
    if (sc->bytes())
      sealed.bytes.assign(reinterpret_cast<const char*>(sc->bytes()->data()), sc->bytes()->size());
    e->sealed = std::move(sealed);
    e->content_access = ContentAccess::kSealed;
    return Status::OK();
  }
  if (!sc->bytes()) return Corrupt("sealed content without bytes");
  std::optional<Content> content;
  if (Status st = DecodeContentPlain(
          std::string_view(reinterpret_cast<const char*>(sc->bytes()->data()), sc->bytes()->size()),
          &content, template_params);
      !st.ok())
    return st;
  e->content = std::move(content);
  return Status::OK();
}

}  // namespace

Status DecodeContentPlain(std::string_view bytes, std::optional<Content>* content,
                          std::vector<std::string>* template_params) {
  AlignedCopy a;
  std::string_view raw = a.Align(bytes);
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  if (!v.VerifyBuffer<fbs::ContentPlain>(nullptr)) return Corrupt("content fails verification");
  const auto* cp = flatbuffers::GetRoot<fbs::ContentPlain>(raw.data());
  Content c;
  c.text = Read(cp->text());
  if (cp->media()) {
    for (const auto* m : *cp->media()) {
      Media item;
      item.mime = Read(m->mime());
      item.size = m->size();
      item.sha256 = Read(m->sha256());
      item.caption = Read(m->caption());
      item.reference = Read(m->reference());
      item.filename = Read(m->filename());
      c.media.push_back(std::move(item));
    }
  }
  if (template_params && cp->template_parameters())
    for (const auto* p : *cp->template_parameters()) template_params->push_back(p->str());
  if (!c.text.empty() || !c.media.empty()) *content = std::move(c);
  return Status::OK();
}

Status ParseRecord(std::string_view record, bool check_hash, RecordView* out) {
  const fbs::Record* rec = nullptr;
  const fbs::Event* ev = VerifiedEvent(record, &rec);
  if (!ev) return Corrupt("record fails FlatBuffers verification");
  out->event_bytes = std::string_view(reinterpret_cast<const char*>(rec->event()->data()),
                                      rec->event()->size());
  out->hash = ToDigest(rec->hash());
  out->global_seq = ev->global_seq();
  out->conversation_seq = ev->conversation_seq();
  out->conversation_id = ev->conversation_id()->string_view();
  out->tenant = ev->tenant() ? ev->tenant()->string_view() : std::string_view();
  out->prev_hash = ToDigest(ev->prev_hash());
  if (check_hash && EventHash(out->prev_hash, out->event_bytes) != out->hash)
    return Status::Corruption("hash_mismatch", "global_seq " + std::to_string(out->global_seq) +
                                                   ": stored hash does not match its bytes");
  return Status::OK();
}

Result<Event> Decode(std::string_view record_in, bool check_hash) {
  AlignedCopy a;
  std::string_view record = a.Align(record_in);
  RecordView rv;
  if (Status st = ParseRecord(record, check_hash, &rv); !st.ok()) return st;
  const fbs::Record* rec = fbs::GetRecord(record.data());
  const fbs::Event* ev = rec->event_nested_root();
  Event e;
  e.global_seq = ev->global_seq();
  e.conversation_id = ev->conversation_id()->str();
  e.conversation_seq = ev->conversation_seq();
  for (int i = 0; i < 8; ++i) {
    e.event_id[i] = static_cast<uint8_t>(ev->event_id()->hi() >> (56 - 8 * i));
    e.event_id[8 + i] = static_cast<uint8_t>(ev->event_id()->lo() >> (56 - 8 * i));
  }
  e.idempotency_key = Read(ev->idempotency_key());
  e.occurred_at_us = ev->occurred_at_us();
  e.recorded_at_us = ev->recorded_at_us();
  if (ev->actor()) {
    e.actor.kind = static_cast<ActorKind>(ev->actor()->kind());
    e.actor.id = Read(ev->actor()->id());
    e.actor.display = Read(ev->actor()->display());
  }
  e.channel = static_cast<Channel>(ev->channel());
  e.tenant = Read(ev->tenant());
  e.prev_hash = rv.prev_hash;
  e.hash = rv.hash;
  if (ev->evidence()) e.evidence = ToDigest(ev->evidence());
  if (ev->subject()) e.subject = ev->subject()->str();
  Status st;
  switch (ev->body_type()) {
    case fbs::Body::MessageSent: {
      const auto* b = ev->body_as_MessageSent();
      e.type = EventType::kMessageSent;
      e.message_id = Read(b->message_id());
      e.direction = static_cast<Direction>(b->direction());
      e.reply_to = Read(b->reply_to());
      e.kind = Read(b->kind());
      std::vector<std::string> params;
      st = DecodeSealed(b->content(), &e, &params);
      if (b->template_()) {
        Template t;
        t.name = Read(b->template_()->name());
        t.language = Read(b->template_()->language());
        t.category = Read(b->template_()->category());
        t.parameters = std::move(params);
        e.template_ = std::move(t);
      }
      break;
    }
    case fbs::Body::MessageEdited: {
      const auto* b = ev->body_as_MessageEdited();
      e.type = EventType::kMessageEdited;
      e.message_id = Read(b->message_id());
      e.reason = Read(b->reason());
      st = DecodeSealed(b->content(), &e, nullptr);
      break;
    }
    case fbs::Body::MessageDeleted: {
      const auto* b = ev->body_as_MessageDeleted();
      e.type = EventType::kMessageDeleted;
      e.message_id = Read(b->message_id());
      e.scope = static_cast<DeleteScope>(b->scope());
      e.reason_code = Read(b->reason_code());
      e.reason = Read(b->reason());
      break;
    }
    case fbs::Body::MessageCorrected: {
      const auto* b = ev->body_as_MessageCorrected();
      e.type = EventType::kMessageCorrected;
      e.message_id = Read(b->message_id());
      e.replacement_message_id = Read(b->replacement_message_id());
      e.reason_code = Read(b->reason_code());
      e.explanation = Read(b->explanation());
      break;
    }
    case fbs::Body::MessageRedacted: {
      const auto* b = ev->body_as_MessageRedacted();
      e.type = EventType::kMessageRedacted;
      e.message_id = Read(b->message_id());
      e.reason = Read(b->reason());
      e.override_hold = b->override_hold();
      break;
    }
    case fbs::Body::SubjectErased: {
      const auto* b = ev->body_as_SubjectErased();
      e.type = EventType::kSubjectErased;
      e.subject = Read(b->subject());
      e.reason = Read(b->reason());
      e.override_hold = b->override_hold();
      break;
    }
    case fbs::Body::ErasureRefused: {
      const auto* b = ev->body_as_ErasureRefused();
      e.type = EventType::kErasureRefused;
      e.refused = b->refused() == static_cast<uint8_t>(EventType::kSubjectErased)
                      ? EventType::kSubjectErased
                      : EventType::kMessageRedacted;
      e.message_id = Read(b->message_id());
      e.subject = Read(b->subject());
      e.reason = Read(b->reason());
      e.case_ref = Read(b->case_ref());
      break;
    }
    case fbs::Body::DeliveryStatus: {
      const auto* b = ev->body_as_DeliveryStatus();
      e.type = EventType::kMessageStatus;
      e.message_id = Read(b->message_id());
      e.status = static_cast<Delivery>(b->status());
      e.error_code = Read(b->error_code());
      e.error_title = Read(b->error_title());
      break;
    }
    case fbs::Body::Reaction: {
      const auto* b = ev->body_as_Reaction();
      e.type = EventType::kMessageReaction;
      e.message_id = Read(b->message_id());
      e.emoji = Read(b->emoji());
      e.action = static_cast<ReactionAction>(b->action());
      break;
    }
    case fbs::Body::ConsentChanged: {
      const auto* b = ev->body_as_ConsentChanged();
      e.type = EventType::kConsentChanged;
      e.consent = static_cast<ConsentState>(b->consent());
      e.consent_scope = Read(b->scope());
      e.source = Read(b->source());
      break;
    }
    case fbs::Body::LegalHold: {
      const auto* b = ev->body_as_LegalHold();
      e.type = EventType::kLegalHoldChanged;
      e.hold = static_cast<HoldAction>(b->hold());
      e.case_ref = Read(b->case_ref());
      e.hold_scope = b->scope() == fbs::HoldScope::Subject ? HoldScope::kSubject
                                                           : HoldScope::kConversation;
      break;
    }
    case fbs::Body::InternalNote: {
      const auto* b = ev->body_as_InternalNote();
      e.type = EventType::kNoteAdded;
      st = DecodeSealed(b->content(), &e, nullptr);
      break;
    }
    default:
      return Status::Corruption("unknown_body",
                                "global_seq " + std::to_string(e.global_seq) +
                                    ": body type unknown to this version");
  }
  if (!st.ok()) return st;
  return e;
}

}  // namespace convledger::codec

namespace convledger {
Result<Event> DecodeRecord(std::string_view record) { return codec::Decode(record, true); }

Result<RecordInfo> InspectRecord(std::string_view record_in) {
  codec::AlignedCopy a;  // the verifier needs the buffer aligned; an export's bytes may not be
  std::string_view record = a.Align(record_in);
  codec::RecordView rv;
  if (Status st = codec::ParseRecord(record, /*check_hash=*/false, &rv); !st.ok()) return st;
  RecordInfo info;
  info.global_seq = rv.global_seq;
  info.conversation_seq = rv.conversation_seq;
  info.conversation_id = std::string(rv.conversation_id);
  info.tenant = std::string(rv.tenant);
  const fb::Event* ev = fb::GetRecord(record.data())->event_nested_root();
  info.occurred_at_us = ev->occurred_at_us();
  if (ev->actor()) {
    info.actor_kind = static_cast<ActorKind>(ev->actor()->kind());
    info.actor_id = codec::Read(ev->actor()->id());
  }
  info.prev_hash = rv.prev_hash;
  info.stored_hash = rv.hash;
  info.computed_hash = codec::EventHash(rv.prev_hash, rv.event_bytes);
  return info;
}
}  // namespace convledger
