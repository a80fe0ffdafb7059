// The tree-head signing key (private to ledger/): an Ed25519 key pair in a PKCS#8 PEM file,
// created once and then only read. Kept apart from the storage engine so that nothing but this
// file touches private key material.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ledger/status.h"

namespace convledger::signing {

// Writes a secret (a key file): parent directory created with mode 0700 when missing, the file
// with mode 0600 from its creation, under a temporary name, fsynced, then renamed into place so
// a crash never leaves half a key.
Status WriteSecretFile(const std::string& path, std::string_view data);

class SigningKey {
 public:
  // Reads the PEM private key at `path`. When it does not exist and `create` is set, generates a
  // new key and writes it there first: parent directory created with mode 0700, the file with
  // mode 0600, written to a temporary name, fsynced and renamed so a crash never leaves half a
  // key. NotFound (signing_key_not_found) when absent and not created; Corruption
  // (bad_signing_key) when the file holds no Ed25519 private key.
  static Result<std::unique_ptr<SigningKey>> LoadOrCreate(const std::string& path, bool create);

  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // The 64-byte Ed25519 signature of `message`. Thread-safe.
  Result<std::string> Sign(std::string_view message) const;
  // PEM "PUBLIC KEY" (SubjectPublicKeyInfo).
  const std::string& public_key_pem() const { return public_pem_; }

 private:
  SigningKey() = default;
  struct Key;
  std::unique_ptr<Key> key_;
  std::string public_pem_;
};

}  // namespace convledger::signing
