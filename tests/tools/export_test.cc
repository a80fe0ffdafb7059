// `convledger export` / `convledger verify PATH` (tools/export_commands.cc) and the library
// under them (projections/export.h): every format from the demo data (edits, deletions,
// corrections, a redaction) plus hostile text; offline verification passes; any tampering is
// caught; RSMF manifests validate against the official 2.0.0 schema and the EML parses with
// Python's email module.

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "projections/export.h"
#include "test_util.h"

namespace convledger::cli::test {
namespace {

using projections::ExportFile;
namespace fs = std::filesystem;

std::string Sha256Hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* k = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out.push_back(k[c >> 4]);
    out.push_back(k[c & 15]);
  }
  return out;
}

// The Python that setup.sh provides python3-jsonschema for (Debian's); `python3` otherwise.
std::string Python() { return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunMain({"demo", "--data", data_}).exit_code, kExitOk);
    // Hostile text for the HTML transcript, in its own conversation.
    const std::string hostile =
        MessageLine("hostile", "m-x", {{"content", {{"text", "<script>alert('x')</script> & \"q\""}}}});
    CliRun run = RunMain({"append", "--data", data_}, hostile + "\n");
    ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  }

  // A bundle of two demo conversations, in memory, made by the library.
  std::vector<ExportFile> Bundle() {
    auto ledger = OpenForCheck(data_);
    std::vector<ExportFile> files;
    projections::ExportSelection sel;
    sel.conversation_ids = {"demo-wa-anna", "demo-wa-ben"};
    auto summary = projections::Export(
        *ledger, sel, projections::ExportFormat::kBundle,
        [&](const std::string& p, std::string_view b) {
          files.push_back({p, std::string(b)});
          return Status::OK();
        });
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    return files;
  }

  static ExportFile& File(std::vector<ExportFile>& files, const std::string& path) {
    for (ExportFile& f : files)
      if (f.path == path) return f;
    ADD_FAILURE() << "no file " << path;
    return files.front();
  }

  // What a careful forger does after editing a file: fix its entry in the manifest.
  static void Rehash(std::vector<ExportFile>& files, const std::string& path) {
    ExportFile& m = File(files, "manifest.json");
    json j = json::parse(m.bytes);
    for (json& f : j["files"])
      if (f["path"] == path) {
        f["sha256"] = Sha256Hex(File(files, path).bytes);
        f["size"] = File(files, path).bytes.size();
      }
    m.bytes = j.dump();
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  static bool HasProblem(const projections::ExportVerifyReport& r, const std::string& needle) {
    for (const std::string& p : r.problems)
      if (p.find(needle) != std::string::npos) return true;
    return false;
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
};

TEST_F(ExportTest, BundleDirectoryAndZipVerifyOffline) {
  for (const std::string out : {dir_.Sub("bundle"), dir_.Sub("bundle.zip")}) {
    CliRun run = RunMain({"export", "--data", data_, "--conversation", "demo-wa-anna",
                          "--conversation", "demo-wa-ben", "--format", "bundle", "--out", out,
                          "--progress", "none"});
    ASSERT_EQ(run.exit_code, kExitOk) << run.err;
    const json summary = JsonLines(run.out).at(0);
    EXPECT_EQ(summary["conversations"], 2);
    // The card number's send in demo-wa-anna is sealed and its key destroyed by the redaction:
    // its record goes out as stored (ciphertext, still provable), nothing needs withholding.
    EXPECT_EQ(summary["withheld"], 0);
    // The ledger is not needed: remove it before verifying.
    fs::remove_all(data_ + "_absent");
    CliRun verify = RunMain({"verify", out});
    ASSERT_EQ(verify.exit_code, kExitOk) << verify.out << verify.err;
    const json report = JsonLines(verify.out).at(0);
    EXPECT_TRUE(report["ok"]);
    EXPECT_EQ(report["events"], summary["events"]);
  }
  // The redacted card number is in no exported byte, raw or decoded.
  const std::string all = ReadFile(dir_.Sub("bundle/conversations/0001/events.jsonl"));
  EXPECT_EQ(all.find("4111 1111"), std::string::npos);
}

TEST_F(ExportTest, CustomerAndTenantSelections) {
  CliRun run = RunMain({"export", "--data", data_, "--customer", "4917098765432", "--out",
                        dir_.Sub("c.zip"), "--progress", "none"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(JsonLines(run.out).at(0)["conversations"], 1);
  EXPECT_EQ(RunMain({"verify", dir_.Sub("c.zip")}).exit_code, kExitOk);
  run = RunMain({"export", "--data", data_, "--tenant", "default", "--from",
                 "2026-11-20T00:00:00Z", "--to", "2026-11-20T23:59:59Z", "--out",
                 dir_.Sub("t"), "--progress", "none"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_GE(JsonLines(run.out).at(0)["conversations"].get<int>(), 1);
  EXPECT_EQ(RunMain({"verify", dir_.Sub("t")}).exit_code, kExitOk);
  // Nothing selected, or no selection at all.
  EXPECT_EQ(RunMain({"export", "--data", data_, "--customer", "nobody", "--out", dir_.Sub("n"),
                     "--progress", "none"}).exit_code, kExitFailed);
  EXPECT_EQ(RunMain({"export", "--data", data_, "--out", dir_.Sub("n2"), "--progress", "none"})
                .exit_code, kExitUsage);
  EXPECT_EQ(RunMain({"export", "--data", data_, "--conversation", "nope", "--out",
                     dir_.Sub("n3"), "--progress", "none"}).exit_code, kExitFailed);
}

TEST_F(ExportTest, AnySingleByteChangeIsCaught) {
  const std::vector<ExportFile> pristine = Bundle();
  ASSERT_TRUE(projections::VerifyBundle(pristine).ok())
      << Join(projections::VerifyBundle(pristine).problems);
  size_t cases = 0;
  for (size_t fi = 0; fi < pristine.size(); ++fi) {
    const size_t n = pristine[fi].bytes.size();
    // Every byte of the small files (head, key, signature); ~400 spread over the large ones.
    const size_t step = n <= 4096 ? 1 : n / 400;
    for (size_t pos = 0; pos < n; pos += step) {
      std::vector<ExportFile> files = pristine;
      files[fi].bytes[pos] ^= 0x01;
      EXPECT_FALSE(projections::VerifyBundle(files).ok())
          << pristine[fi].path << " byte " << pos << " changed and not caught";
      ++cases;
    }
  }
  EXPECT_GT(cases, 1000u);
}

TEST_F(ExportTest, DroppedReorderedOrSwappedEventsAreCaughtEvenWithTheManifestFixed) {
  const std::vector<ExportFile> pristine = Bundle();
  const std::string path1 = "conversations/0001/events.jsonl";
  const std::string path2 = "conversations/0002/events.jsonl";
  const std::vector<std::string> lines1 = Lines(File(const_cast<std::vector<ExportFile>&>(pristine), path1).bytes);
  const std::vector<std::string> lines2 = Lines(File(const_cast<std::vector<ExportFile>&>(pristine), path2).bytes);
  ASSERT_GE(lines1.size(), 4u);

  auto with = [&](std::vector<std::string> lines) {
    std::vector<ExportFile> files = pristine;
    File(files, path1).bytes = Join(lines);
    Rehash(files, path1);
    return projections::VerifyBundle(files);
  };
  std::vector<std::string> dropped = lines1;
  dropped.erase(dropped.begin() + 2);
  auto r = with(dropped);
  EXPECT_TRUE(HasProblem(r, "gap or reorder")) << Join(r.problems);
  EXPECT_TRUE(HasProblem(r, "chain broken")) << Join(r.problems);

  std::vector<std::string> reordered = lines1;
  std::swap(reordered[1], reordered[2]);
  r = with(reordered);
  EXPECT_TRUE(HasProblem(r, "gap or reorder")) << Join(r.problems);

  std::vector<std::string> swapped = lines1;
  swapped[1] = lines2[1];
  r = with(swapped);
  EXPECT_TRUE(HasProblem(r, "in the export of 'demo-wa-anna'")) << Join(r.problems);

  std::vector<std::string> last_dropped = lines1;
  last_dropped.pop_back();
  r = with(last_dropped);
  EXPECT_FALSE(r.ok());  // the manifest states the last hash and count

  // A head signed by another key: the bundled public key does not verify it.
  std::vector<ExportFile> files = pristine;
  json head = json::parse(File(files, "tree_head.json").bytes);
  head["timestamp_us"] = head["timestamp_us"].get<int64_t>() + 1;
  File(files, "tree_head.json").bytes = head.dump();
  Rehash(files, "tree_head.json");
  r = projections::VerifyBundle(files);
  EXPECT_TRUE(HasProblem(r, "signature")) << Join(r.problems);
}

TEST_F(ExportTest, RsmfValidatesAgainstTheOfficialSchemaAndParsesAsEml) {
  const std::string out = dir_.Sub("rsmf");
  CliRun run = RunMain({"export", "--data", data_, "--tenant", "default", "--format", "rsmf",
                        "--out", out, "--progress", "none"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(out)) {
    ++count;
    const std::string eml = ReadFile(entry.path().string());
    EXPECT_TRUE(projections::VerifyRsmf(eml).ok()) << Join(projections::VerifyRsmf(eml).problems);
  }
  EXPECT_EQ(count, 4u);  // three demo conversations and the hostile one
  EXPECT_EQ(RunMain({"verify", out}).exit_code, kExitOk);

  // Python's email parser, the official 2.0.0 schema (draft 7, with format checks), and what the
  // mapping must show: the deleted message, the edit with previous/new, reasons as custom.
  const std::string script = dir_.Sub("check.py");
  std::ofstream(script) << R"PY(
import email, io, json, sys, zipfile, pathlib
import jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
seen = {"deleted": 0, "edits": 0, "deletion_reason": 0, "redacted": 0}
for path in sorted(pathlib.Path(sys.argv[2]).glob("*.rsmf")):
    msg = email.message_from_bytes(path.read_bytes())
    assert msg["X-RSMF-Version"] == "2.0.0", path
    parts = [p for p in msg.walk() if p.get_filename() == "rsmf.zip"]
    assert len(parts) == 1 and parts[0]["Content-Transfer-Encoding"] == "base64", path
    z = zipfile.ZipFile(io.BytesIO(parts[0].get_payload(decode=True)))
    assert z.testzip() is None
    manifest = json.loads(z.read("rsmf_manifest.json"))
    errors = [e.message for e in v.iter_errors(manifest)]
    if errors:
        print(path, errors); sys.exit(1)
    names = set(z.namelist())
    for e in manifest["events"]:
        for a in e.get("attachments", []):
            assert a["id"] in names, a
        seen["deleted"] += e.get("deleted", False)
        seen["edits"] += any("previous" in x and "new" in x for x in e.get("edits", []))
        seen["deletion_reason"] += any(c["name"] == "Deletion reason code" for c in e.get("custom", []))
        seen["redacted"] += any(c["name"] == "Redaction reason" for c in e.get("custom", []))
    assert str(len(manifest["events"])) == msg["X-RSMF-EventCount"]
print(json.dumps(seen))
assert all(seen.values()), seen
)PY";
  const std::string cmd = Python() + " '" + script + "' '" + CONVLEDGER_SOURCE_DIR +
                          "/tests/tools/rsmf/rsmf_schema_2_0_0.json' '" + out + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
}

TEST_F(ExportTest, TamperedRsmfIsCaught) {
  const std::string out = dir_.Sub("anna.rsmf");
  ASSERT_EQ(RunMain({"export", "--data", data_, "--conversation", "demo-wa-anna", "--format",
                     "rsmf", "--out", out, "--progress", "none"}).exit_code, kExitOk);
  std::string eml = ReadFile(out);
  ASSERT_TRUE(projections::VerifyRsmf(eml).ok());
  // A byte inside the base64 attachment (the zip's bytes, CRC-checked, then the bundle).
  const size_t at = eml.find("filename=\"rsmf.zip\"");
  ASSERT_NE(at, std::string::npos);
  for (size_t off : {200u, 1000u, 5000u}) {
    std::string bad = eml;
    char& c = bad[at + off];
    if (c == '\r' || c == '\n') continue;
    c = c == 'A' ? 'B' : 'A';
    EXPECT_FALSE(projections::VerifyRsmf(bad).ok()) << "offset " << off;
  }
  std::ofstream(out, std::ios::binary | std::ios::trunc) << eml.substr(0, eml.size() / 2);
  EXPECT_EQ(RunMain({"verify", out}).exit_code, kExitFailed);
}

TEST_F(ExportTest, HtmlEscapesHostileTextAndShowsChanges) {
  const std::string out = dir_.Sub("hostile.html");
  ASSERT_EQ(RunMain({"export", "--data", data_, "--conversation", "hostile", "--format", "html",
                     "--out", out, "--progress", "none"}).exit_code, kExitOk);
  const std::string html = ReadFile(out);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"),
            std::string::npos);
  const std::string anna = dir_.Sub("anna.html");
  ASSERT_EQ(RunMain({"export", "--data", data_, "--conversation", "demo-wa-anna", "--format",
                     "html", "--out", anna, "--progress", "none"}).exit_code, kExitOk);
  const std::string a = ReadFile(anna);
  for (const char* needle : {"DELETED FOR EVERYONE", "REDACTED", "[redacted]", "Corrected by",
                             "added that the reservation is free", "PCI DSS", "read"})
    EXPECT_NE(a.find(needle), std::string::npos) << needle;
  EXPECT_EQ(a.find("4111 1111"), std::string::npos);
}

}  // namespace
}  // namespace convledger::cli::test
