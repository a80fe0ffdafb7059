#include "ledger/content.h"

#include <cstdint>

namespace convledger {
namespace {

constexpr uint8_t kSealedFormat = 1;

void PutField(std::string* out, std::string_view s) {
  const auto n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out->append(s);
}

bool GetField(std::string_view* in, std::string* out) {
  if (in->size() < 4) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= uint32_t{static_cast<uint8_t>((*in)[i])} << (8 * i);
  in->remove_prefix(4);
  if (in->size() < n) return false;
  out->assign(in->substr(0, n));
  in->remove_prefix(n);
  return true;
}

}  // namespace

std::string SerializeSealed(const SealedContent& sealed) {
  std::string out;
  out.reserve(2 + 12 + sealed.key_id.size() + sealed.nonce.size() + sealed.bytes.size());
  out.push_back(static_cast<char>(kSealedFormat));
  out.push_back(static_cast<char>(sealed.sealing));
  PutField(&out, sealed.key_id);
  PutField(&out, sealed.nonce);
  PutField(&out, sealed.bytes);
  return out;
}

std::optional<SealedContent> ParseSealed(std::string_view in) {
  if (in.size() < 2 || static_cast<uint8_t>(in[0]) != kSealedFormat) return std::nullopt;
  SealedContent s;
  const auto sealing = static_cast<uint8_t>(in[1]);
  if (sealing > static_cast<uint8_t>(Sealing::kChaCha20Poly1305)) return std::nullopt;
  s.sealing = static_cast<Sealing>(sealing);
  in.remove_prefix(2);
  if (!GetField(&in, &s.key_id) || !GetField(&in, &s.nonce) || !GetField(&in, &s.bytes) ||
      !in.empty())
    return std::nullopt;
  return s;
}

Status OpenEvent(ContentOpener& opener, Event* e) {
  if (!e->sealed) return Status::OK();
  auto opened = opener.Open(e->conversation_id, *e->sealed);
  if (!opened.ok()) return opened.status();
  e->content_access = opened->access;
  if (opened->access != ContentAccess::kOpened) return Status::OK();
  e->content = std::move(opened->content);
  if (e->template_) e->template_->parameters = std::move(opened->template_parameters);
  return Status::OK();
}

}  // namespace convledger
