// `convledger serve` as a process: the demo default comes up with its data and a printed admin
// key, answers over HTTP, and SIGTERM stops it gracefully (exit 0) with nothing lost.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <set>
#include <thread>

#include "http_test_util.h"

namespace convledger::api::test {
namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string banner;
};

Child StartServe(const std::string& data, std::vector<std::string> extra = {}) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  Child c;
  c.pid = fork();
  if (c.pid == 0) {
    dup2(fds[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(fds[0]);
    std::vector<std::string> args = {CONVLEDGER_CLI, "serve", "--data", data, "--listen",
                                     "127.0.0.1:0"};
    for (auto& e : extra) args.push_back(e);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  c.out = fds[0];
  // Read until the banner names the port (and, in demo mode, the key).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline &&
         c.banner.find("Stop with") == std::string::npos) {
    ssize_t n = read(c.out, buf, sizeof buf);
    if (n <= 0) break;
    c.banner.append(buf, static_cast<size_t>(n));
  }
  return c;
}

int WaitExit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 600; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -2;
}

TEST(ServeProcess, DemoDefaultServesAndStopsGracefullyOnSigterm) {
  TempDir dir;
  // Parents that do not exist yet are created.
  const std::string data = dir.path() + "/nested/data";
  Child c = StartServe(data);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(c.banner, m, std::regex(R"(http://127\.0\.0\.1:(\d+))")))
      << c.banner;
  const uint16_t port = static_cast<uint16_t>(std::stoi(m[1]));
  ASSERT_TRUE(std::regex_search(c.banner, m, std::regex(R"(CONVLEDGER_KEY=(clk_[A-Za-z0-9_-]+))")))
      << c.banner;
  const std::string key = m[1];
  EXPECT_NE(c.banner.find("curl"), std::string::npos);

  EXPECT_EQ(Fetch(port, http::verb::get, "/healthz").status, 200);
  Reply history = Fetch(port, http::verb::get, "/v1/conversations/demo-wa-ben/history",
                        Auth(key));
  EXPECT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(Fetch(port, http::verb::get, "/v1/conversations/demo-wa-ben/history").status, 401);

  // Appends keep arriving while SIGTERM comes: every acknowledged one must be on disk.
  std::atomic<bool> stop{false};
  std::vector<std::string> acked;
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      try {
        Reply r = Fetch(port, http::verb::post, "/v1/events", Auth(key, true),
                        SentJson("sigterm", "m" + std::to_string(i)));
        if (r.status == 201) acked.push_back("m" + std::to_string(i));
      } catch (const std::exception&) {
        return;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(c.pid, SIGTERM), 0);
  EXPECT_EQ(WaitExit(c.pid), 0);
  stop = true;
  writer.join();
  close(c.out);
  EXPECT_FALSE(acked.empty());

  Options o;
  o.read_only = true;
  auto l = Ledger::Open(data, o);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto events = (*l)->ReadConversation("sigterm");
  ASSERT_TRUE(events.ok());
  std::set<std::string> stored;
  for (const auto& e : *events) stored.insert(e.message_id);
  for (const auto& id : acked) EXPECT_TRUE(stored.count(id)) << id;
  VerifyReport report;
  ASSERT_TRUE((*l)->Verify(&report).ok());
  EXPECT_TRUE(report.ok());
}

TEST(ServeProcess, BadConfigIsAUsageError) {
  TempDir dir;
  const std::string cfg = dir.path() + "/bad.json";
  FILE* f = fopen(cfg.c_str(), "w");
  fputs("{\"tenants\": []}", f);
  fclose(f);
  Child c = StartServe(dir.path() + "/data", {"--config", cfg});
  EXPECT_EQ(WaitExit(c.pid), 2);
  close(c.out);
}

}  // namespace
}  // namespace convledger::api::test
