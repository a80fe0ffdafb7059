// Reading encrypted content (crypto-shredding, see README "Erasure").
//
// Message content (text, media, template parameters, note text) is stored encrypted with a data
// key of its own, wrapped by a key of the conversation's subject (the customer); both live in
// the ledger's `keys` column family, the subject keys wrapped by the master key. Redaction
// destroys a message's data keys, erasure its subject's key: the events, their hashes and the
// Merkle proofs never change, the content just cannot be opened any more.
//
// Projections therefore keep content sealed in their state (SerializeSealed) and open it only
// when rendering, through a ContentOpener; no plaintext reaches stored state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/event.h"
#include "ledger/status.h"

namespace convledger {

// What opening one sealed content gave.
struct OpenedContent {
  // kOpened, kRedacted or kErased (kPlain when the input was not sealed).
  ContentAccess access = ContentAccess::kOpened;
  std::optional<Content> content;                // kOpened only (absent when it held nothing)
  std::vector<std::string> template_parameters;  // kOpened only
};

class ContentOpener {
 public:
  virtual ~ContentOpener() = default;
  // Decrypts `sealed`. A destroyed key is not an error: access says kRedacted or kErased.
  // Corruption (reason content_auth_failed) when the ciphertext does not authenticate under its
  // key; Corruption (unknown_key) when no such key was ever issued by this ledger.
  virtual Result<OpenedContent> Open(std::string_view conversation_id,
                                     const SealedContent& sealed) = 0;
};

// Opens `e->sealed` in place when the event carries one: fills `content` and the template
// parameters and sets `content_access`. Events stored in plaintext are left as they are.
// Errors are the opener's.
Status OpenEvent(ContentOpener& opener, Event* e);

// A compact, stable byte form of a SealedContent for projection state (deterministic: the same
// envelope gives the same bytes). ParseSealed returns nullopt for bytes that are not one.
std::string SerializeSealed(const SealedContent& sealed);
std::optional<SealedContent> ParseSealed(std::string_view bytes);

}  // namespace convledger
