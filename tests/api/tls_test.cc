// HTTPS: with a certificate and key in the config the server speaks TLS only.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>

#include "http_test_util.h"

namespace convledger::api::test {
namespace {

namespace ssl = boost::asio::ssl;

// A self-signed P-256 certificate for 127.0.0.1, written as PEM files.
void MakeCertificate(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  ASSERT_NE(pkey, nullptr);
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  ASSERT_GT(X509_sign(x, pkey, EVP_sha256()), 0);
  FILE* f = fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(pkey);
}

class TlsTest : public ServerFixture {
 protected:
  void SetUp() override {
    cert_ = dir_.path() + "/cert.pem";
    key_ = dir_.path() + "/key.pem";
    MakeCertificate(cert_, key_);
    Config c = TestConfig();
    c.tls_certificate = cert_;
    c.tls_private_key = key_;
    StartServer(std::move(c));
  }
  std::string cert_, key_;
};

TEST_F(TlsTest, ServesHttpsAndRefusesPlainHttp) {
  ASSERT_TRUE(server_->tls());
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert_);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  stream.handshake(ssl::stream_base::client);
  http::request<http::string_body> req{http::verb::get, "/v1/whoami", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, "Bearer " + kAcmeDispute);
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find("acme"), std::string::npos);
  beast::error_code ec;
  stream.shutdown(ec);

  // Plain HTTP to the TLS port gets no HTTP answer.
  EXPECT_ANY_THROW(Fetch(port_, http::verb::get, "/healthz"));
}

TEST(TlsConfig, MissingCertificateIsRefusedAtStart) {
  TempDir dir;
  Options o;
  auto l = Ledger::Open(dir.path() + "/data", o);
  ASSERT_TRUE(l.ok());
  Config c = TestConfig();
  c.tls_certificate = dir.path() + "/nope.pem";
  c.tls_private_key = dir.path() + "/nope.key";
  auto s = Server::Start(**l, c, ServerOptions{"127.0.0.1", 0});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().reason(), "tls_invalid");
}

}  // namespace
}  // namespace convledger::api::test
