// Helpers shared by the webhook tests: corpus files, signatures.txt, the corpus accounts.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "api/webhooks.h"

namespace convledger::api::test {

inline std::string CorpusPath(const std::string& name) {
  return std::string(CONVLEDGER_API_CORPUS_DIR) + "/" + name;
}

// The exact bytes of a corpus file (signatures are over them).
inline std::string ReadCorpus(const std::string& name) {
  std::ifstream in(CorpusPath(name), std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << CorpusPath(name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct SignedFile {
  std::string file;
  size_t bytes = 0;
  std::string header;
};
struct NegativeCase {
  std::string name, file, header;  // header: the X-Hub-Signature-256 value ("" when none)
};
struct Signatures {
  std::string app_secret;
  std::string verify_token;
  std::vector<SignedFile> files;
  std::vector<NegativeCase> negatives;
};

inline Signatures ReadSignatures() {
  Signatures out;
  std::istringstream in(ReadCorpus("signatures.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("APP_SECRET=", 0) == 0) out.app_secret = line.substr(11);
    if (line.rfind("VERIFY_TOKEN=", 0) == 0) out.verify_token = line.substr(13);
    if (line.empty() || line[0] == '#' || line.find('=') == std::string::npos) {
      if (line.rfind("NEG ", 0) != 0) continue;
    }
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "NEG") {
      NegativeCase n;
      std::string third;
      words >> n.name >> n.file >> third;
      // "X-Hub-Signature: sha1=..." is the legacy header only: no X-Hub-Signature-256 at all.
      // "(no ...)" is no header at all. Otherwise the third word is the header value.
      if (third == "X-Hub-Signature:" || third.rfind("(", 0) == 0) third.clear();
      n.header = third;
      out.negatives.push_back(n);
    } else if (first.find(".json") != std::string::npos || first.find(".bin") != std::string::npos) {
      SignedFile f;
      f.file = first;
      words >> f.bytes >> f.header;
      out.files.push_back(f);
    }
  }
  return out;
}

inline constexpr char kTenant[] = "acme";
inline constexpr char kPhone[] = "210987654321098";
inline constexpr char kPhone2[] = "210987654321099";
inline constexpr char kPage[] = "104857600000001";

// The corpus accounts, all of tenant "acme".
inline WebhookContext CorpusContext(std::string_view body = {}) {
  WebhookContext ctx;
  ctx.evidence = BodyDigest(body);
  ctx.whatsapp_tenant = [](std::string_view id) -> std::optional<std::string> {
    if (id == kPhone || id == kPhone2) return std::string(kTenant);
    return std::nullopt;
  };
  ctx.messenger_tenant = [](std::string_view id) -> std::optional<std::string> {
    if (id == kPage) return std::string(kTenant);
    return std::nullopt;
  };
  return ctx;
}

// Every POST body of the corpus, in replay order: wa-01 ... wa-23, then fb-24, fb-25.
inline std::vector<std::string> CorpusPosts() {
  std::vector<std::string> out;
  for (const SignedFile& f : ReadSignatures().files) out.push_back(f.file);
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    const bool fa = a.rfind("fb-", 0) == 0, fb = b.rfind("fb-", 0) == 0;
    return fa != fb ? fb : a < b;
  });
  return out;
}

inline WebhookResult MapCorpusFile(const std::string& name, const WebhookContext& ctx,
                                   const std::string& body) {
  return name.rfind("fb-", 0) == 0 ? MapMessenger(body, ctx) : MapWhatsApp(body, ctx);
}

}  // namespace convledger::api::test
