#include "signing.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace convledger::signing {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(Errno("writing " + path));
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Status::IOError(Errno("opening " + dir));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::IOError(Errno("fsync " + dir));
  return Status::OK();
}

Status CreateKeyFile(const std::string& path) {
  PKey key(nullptr, &EVP_PKEY_free);
  {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), &EVP_PKEY_CTX_free);
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
      return Status::IOError("generating an Ed25519 key failed");
    key.reset(raw);
  }
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: the file mode
  // protects it, like an SSH host key.
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return Status::IOError("encoding the signing key failed");
  return WriteSecretFile(path, BioString(bio.get()));
}

}  // namespace

Status WriteSecretFile(const std::string& path, std::string_view data) {
  const std::filesystem::path p(path);
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    // 0700: nobody else may even list the key directory.
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("creating " + dir + ": " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0) return Status::IOError(Errno("chmod " + dir));
  }
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  // Created 0600 from the start (O_EXCL, explicit mode): the key is never readable by others,
  // not even for the moment between create and chmod.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(Errno("creating " + tmp));
  Status st = WriteAll(fd, data, tmp);
  if (st.ok() && ::fchmod(fd, 0600) != 0) st = Status::IOError(Errno("chmod " + tmp));
  if (st.ok() && ::fsync(fd) != 0) st = Status::IOError(Errno("fsync " + tmp));
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    st = Status::IOError(Errno("renaming " + tmp));
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(dir);
}

struct SigningKey::Key {
  PKey pkey{nullptr, &EVP_PKEY_free};
};

SigningKey::~SigningKey() = default;

Result<std::unique_ptr<SigningKey>> SigningKey::LoadOrCreate(const std::string& path,
                                                             bool create) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!create)
      return Status::NotFound("signing_key_not_found",
                              "no tree signing key at " + path +
                                  " (a read-write open creates one)");
    if (Status st = CreateKeyFile(path); !st.ok()) return st;
  }
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::IOError(Errno("opening " + path));
  PKey pkey(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!pkey || EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519)
    return Status::Corruption("bad_signing_key", path + " holds no PEM Ed25519 private key");

  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1)
    return Status::IOError("encoding the public key failed");
  std::unique_ptr<SigningKey> out(new SigningKey());
  out->public_pem_ = BioString(bio.get());
  out->key_ = std::make_unique<Key>();
  out->key_->pkey = std::move(pkey);
  return out;
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  // Ed25519 is PureEdDSA: no digest (NULL md), the whole message is signed in one call.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1)
    return Status::IOError("cannot initialise Ed25519 signing");
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      len != 64)
    return Status::IOError("Ed25519 signing failed");
  return sig;
}

}  // namespace convledger::signing
