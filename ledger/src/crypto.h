// Symmetric crypto for crypto-shredding, over OpenSSL EVP. Private to ledger/.
//
// AES-256-GCM everywhere: 12-byte random nonces, 16-byte tags, associated data binding each
// ciphertext to what it is (a key id, a key's name), so a value moved elsewhere does not open.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/event.h"

namespace convledger::crypto {

using Key = std::array<uint8_t, 32>;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;
// nonce || ciphertext || tag of a 32-byte key.
inline constexpr size_t kWrappedKeyBytes = kNonceBytes + 32 + kTagBytes;

// Cryptographically random bytes (OpenSSL's DRBG); aborts if the DRBG fails (no fallback).
void RandomBytes(void* out, size_t n);
Key NewKey();

// ciphertext || tag of `plain` under `key` and the given 12-byte nonce.
std::string Encrypt(const Key& key, std::string_view nonce, std::string_view aad,
                    std::string_view plain);
// False when the tag does not authenticate (wrong key, altered bytes, other aad).
bool Decrypt(const Key& key, std::string_view nonce, std::string_view aad,
             std::string_view ct_and_tag, std::string* plain);

// A key encrypted under a key-encryption key: nonce || ciphertext || tag (kWrappedKeyBytes).
std::string Wrap(const Key& kek, std::string_view aad, const Key& key);
bool Unwrap(const Key& kek, std::string_view aad, std::string_view wrapped, Key* out);

// HMAC-SHA-256.
Digest Hmac(const Key& key, std::string_view data);

// Overwrites secret bytes (OPENSSL_cleanse: not optimised away).
void Cleanse(void* p, size_t n);

}  // namespace convledger::crypto
