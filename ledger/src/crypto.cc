#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace convledger::crypto {
namespace {

// One cipher fetched once and, per thread, one context for sealing and one for opening, each
// bound to the cipher once: EVP_CIPHER_CTX_new, the algorithm fetch and binding a context to
// it cost more than sealing or opening a short message. Each call then only sets key and nonce
// (EVP_*Init_ex with a null cipher keeps the context's cipher and resets its state).
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return c;
}

struct CtxHolder {
  explicit CtxHolder(bool encrypt) : ctx(EVP_CIPHER_CTX_new()) {
    const int ok = encrypt ? EVP_EncryptInit_ex(ctx, Aes256Gcm(), nullptr, nullptr, nullptr)
                           : EVP_DecryptInit_ex(ctx, Aes256Gcm(), nullptr, nullptr, nullptr);
    if (ctx == nullptr || ok != 1) std::abort();  // a broken OpenSSL: never seal without it
  }
  ~CtxHolder() { EVP_CIPHER_CTX_free(ctx); }
  EVP_CIPHER_CTX* ctx;
};

EVP_CIPHER_CTX* EncryptCtx() {
  thread_local CtxHolder h(true);
  return h.ctx;
}

EVP_CIPHER_CTX* DecryptCtx() {
  thread_local CtxHolder h(false);
  return h.ctx;
}

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

void RandomBytes(void* out, size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) != 1) std::abort();
}

Key NewKey() {
  Key k;
  RandomBytes(k.data(), k.size());
  return k;
}

std::string Encrypt(const Key& key, std::string_view nonce, std::string_view aad,
                    std::string_view plain) {
  EVP_CIPHER_CTX* ctx = EncryptCtx();
  std::string out(plain.size() + kTagBytes, '\0');
  int len = 0;
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  if (nonce.size() != kNonceBytes ||
      EVP_EncryptInit_ex(ctx, nullptr, nullptr, key.data(), U8(nonce)) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &len, U8(aad), aad.size()) != 1) ||
      EVP_EncryptUpdate(ctx, o, &len, U8(plain), plain.size()) != 1 ||
      EVP_EncryptFinal_ex(ctx, o + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, o + plain.size()) != 1)
    std::abort();  // only reachable with a broken OpenSSL: never store unsealed content instead
  return out;
}

bool Decrypt(const Key& key, std::string_view nonce, std::string_view aad,
             std::string_view ct_and_tag, std::string* plain) {
  if (nonce.size() != kNonceBytes || ct_and_tag.size() < kTagBytes) return false;
  const size_t n = ct_and_tag.size() - kTagBytes;
  EVP_CIPHER_CTX* ctx = DecryptCtx();
  plain->assign(n, '\0');
  int len = 0;
  auto* o = reinterpret_cast<uint8_t*>(plain->data());
  std::array<uint8_t, kTagBytes> tag;
  std::memcpy(tag.data(), ct_and_tag.data() + n, kTagBytes);
  bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, key.data(), U8(nonce)) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &len, U8(aad), aad.size()) == 1) &&
            EVP_DecryptUpdate(ctx, o, &len, U8(ct_and_tag), n) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx, o + len, &len) == 1;
  if (!ok) {
    Cleanse(plain->data(), plain->size());
    plain->clear();
  }
  return ok;
}

std::string Wrap(const Key& kek, std::string_view aad, const Key& key) {
  std::string nonce(kNonceBytes, '\0');
  RandomBytes(nonce.data(), nonce.size());
  return nonce + Encrypt(kek, nonce, aad,
                         std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

bool Unwrap(const Key& kek, std::string_view aad, std::string_view wrapped, Key* out) {
  if (wrapped.size() != kWrappedKeyBytes) return false;
  std::string plain;
  if (!Decrypt(kek, wrapped.substr(0, kNonceBytes), aad, wrapped.substr(kNonceBytes), &plain))
    return false;
  std::memcpy(out->data(), plain.data(), out->size());
  Cleanse(plain.data(), plain.size());
  return true;
}

Digest Hmac(const Key& key, std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), U8(data), data.size(), out.data(),
       &len);
  return out;
}

void Cleanse(void* p, size_t n) { OPENSSL_cleanse(p, n); }

}  // namespace convledger::crypto
