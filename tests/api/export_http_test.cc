// GET /v1/conversations/{id}/export for the legal role: the same exports as the CLI, checkable
// offline.
#include "http_test_util.h"
#include "projections/export.h"

namespace convledger::api::test {
namespace {

class ExportHttpTest : public ServerFixture {};

TEST_F(ExportHttpTest, BundleHtmlAndRsmfForLegalOnly) {
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m1", "price is 20 EUR")).status, 201);
  ASSERT_EQ(Post("/v1/events", kAcmeWriter, SentJson("c1", "m2", "<script>x</script>")).status, 201);
  ASSERT_TRUE(ledger_->WaitForProjections(std::chrono::seconds(10)));

  Reply bundle = Get("/v1/conversations/c1/export?format=bundle", kAcmeLegal);
  ASSERT_EQ(bundle.status, 200) << bundle.body.substr(0, 300);
  EXPECT_EQ(bundle.headers["content-type"], "application/zip");
  EXPECT_NE(bundle.headers["content-disposition"].find("c1-bundle.zip"), std::string::npos);
  auto files = projections::UnzipFiles(bundle.body);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  auto report = projections::VerifyBundle(*files);
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();
  EXPECT_EQ(report.events, 2u);
  // One byte changed anywhere in the download is caught.
  std::string tampered = bundle.body;
  auto tf = projections::UnzipFiles(tampered);
  ASSERT_TRUE(tf.ok());
  for (auto& f : *tf)
    if (f.path.find("events") != std::string::npos && !f.bytes.empty()) {
      f.bytes[f.bytes.size() / 2] ^= 1;
      break;
    }
  EXPECT_FALSE(projections::VerifyBundle(*tf).problems.empty());

  Reply html = Get("/v1/conversations/c1/export?format=html", kAcmeLegal);
  ASSERT_EQ(html.status, 200);
  EXPECT_NE(html.headers["content-type"].find("text/html"), std::string::npos);
  EXPECT_NE(html.body.find("price is 20 EUR"), std::string::npos);
  EXPECT_EQ(html.body.find("<script>x</script>"), std::string::npos);

  Reply rsmf = Get("/v1/conversations/c1/export?format=rsmf", kAcmeLegal);
  ASSERT_EQ(rsmf.status, 200);
  EXPECT_TRUE(projections::VerifyRsmf(rsmf.body).problems.empty());

  EXPECT_EQ(Get("/v1/conversations/c1/export", kAcmeDispute).status, 403);
  EXPECT_EQ(Get("/v1/conversations/c1/export", kGlobexAdmin).status, 404);
  EXPECT_EQ(Get("/v1/conversations/c1/export?format=pdf", kAcmeLegal).status, 400);
}

}  // namespace
}  // namespace convledger::api::test
