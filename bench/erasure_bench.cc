// Issue 6 figures in one run: the append rate with content encryption (every message sealed under
// its own data key, wrapped by its subject's key) against the same run without it, and the time
// to erase a subject with 10,000 messages (and to redact one message), flush and compaction that
// take the keys off the disk included.
//
//   erasure_bench [--dir=/var/tmp] [--rounds=3]
//   CONVLEDGER_BENCH_EVENTS   events per append trial (default 200,000)
//   CONVLEDGER_BENCH_WRITERS  concurrent appenders (default 16), one event per append
//
// Rounds alternate plain and sealed trials (plain, sealed, plain, sealed, ...) on fresh ledgers
// with all three views, so drift of the machine hits both; the ratio is taken per round and the
// median reported. Results are printed, one line each.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "projections/projections.h"

using namespace convledger;
using BenchClock = std::chrono::steady_clock;

namespace {

double Seconds(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

uint64_t EnvOr(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}

// An inbound WhatsApp text of a typical length, in the conversation of one customer.
Event Message(const std::string& conv, const std::string& subject, uint64_t i) {
  Event e;
  e.type = EventType::kMessageSent;
  e.conversation_id = conv;
  e.subject = subject;
  e.actor = Actor{ActorKind::kCustomer, subject, "Customer"};
  e.channel = Channel::kWhatsApp;
  e.tenant = "shop";
  e.message_id = "wamid." + conv + "." + std::to_string(i);
  e.direction = Direction::kInbound;
  e.content = Content{"Hello, my order #" + std::to_string(100000 + i) +
                          " arrived damaged - the corner is crushed. Can I get a refund or a "
                          "replacement? Photo attached below.",
                      {}};
  return e;
}

struct Dir {
  explicit Dir(const std::string& base, const std::string& tag) {
    path = base + "/convledger-erasure-bench-" + tag + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(path);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::unique_ptr<Ledger> OpenOrDie(const std::string& dir, bool encrypt) {
  Options o;
  o.encrypt_content = encrypt;
  o.projections = projections::MakeAll();
  auto l = Ledger::Open(dir, o);
  if (!l.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), l.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(l).value();
}

// Events per second: `writers` threads, one event per Append, 64 conversations per writer.
double AppendRate(const std::string& base, bool encrypt, uint64_t events, int writers) {
  Dir dir(base, encrypt ? "sealed" : "plain");
  auto ledger = OpenOrDie(dir.path, encrypt);
  const uint64_t per_writer = events / writers;
  const auto t0 = BenchClock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (uint64_t i = 0; i < per_writer; ++i) {
        const std::string conv = "w" + std::to_string(w) + "-c" + std::to_string(i % 64);
        auto r = ledger->Append({Message(conv, "cust-" + conv, i)});
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(per_writer * writers) / Seconds(t0);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = std::filesystem::temp_directory_path().string();
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--dir=", 0) == 0) base = a.substr(6);
    else if (a.rfind("--rounds=", 0) == 0) rounds = std::max(1, std::atoi(a.c_str() + 9));
  }
  const uint64_t events = EnvOr("CONVLEDGER_BENCH_EVENTS", 200000);
  const int writers = static_cast<int>(EnvOr("CONVLEDGER_BENCH_WRITERS", 16));

  std::vector<double> plain, sealed, ratio;
  for (int r = 0; r < rounds; ++r) {
    const double p = AppendRate(base, false, events, writers);
    const double s = AppendRate(base, true, events, writers);
    plain.push_back(p);
    sealed.push_back(s);
    ratio.push_back(s / p);
    std::printf("round %d: append without encryption %.0f ev/s, with %.0f ev/s, ratio %.2f\n", r + 1,
                p, s, s / p);
  }
  std::printf("append (%d writers, 1 event per append, all views): without encryption %.0f ev/s, "
              "with %.0f ev/s, ratio %.2f (median of %d; target >= 0.70)\n",
              writers, Median(plain), Median(sealed), Median(ratio), rounds);

  // Erasure of a subject with 10,000 messages (10 conversations of 1,000) among 100,000 events
  // of 100 other subjects; then redaction of one message of another subject.
  std::vector<double> erase_s, redact_s;
  for (int r = 0; r < rounds; ++r) {
    Dir dir(base, "erase");
    auto ledger = OpenOrDie(dir.path, true);
    std::vector<Event> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      auto res = ledger->Append(std::move(batch));
      if (!res.ok()) {
        std::fprintf(stderr, "load: %s\n", res.status().ToString().c_str());
        std::exit(1);
      }
      batch.clear();
    };
    for (int c = 0; c < 10; ++c)
      for (uint64_t i = 0; i < 1000; ++i) {
        batch.push_back(Message("target-" + std::to_string(c), "cust-target", i));
        if (batch.size() == 500) flush();
      }
    for (int c = 0; c < 100; ++c)
      for (uint64_t i = 0; i < 1000; ++i) {
        batch.push_back(Message("other-" + std::to_string(c), "cust-" + std::to_string(c), i));
        if (batch.size() == 500) flush();
      }
    flush();
    EraseRequest req;
    req.tenant = "shop";
    req.subject = "cust-target";
    req.reason = "GDPR art. 17";
    auto t0 = BenchClock::now();
    auto rep = ledger->EraseSubject(req);
    const double es = Seconds(t0);
    if (!rep.ok() || rep->keys_destroyed < 10000) {
      std::fprintf(stderr, "erase: %s\n", rep.ok() ? "too few keys" : rep.status().ToString().c_str());
      return 1;
    }
    Event red;
    red.type = EventType::kMessageRedacted;
    red.conversation_id = "other-7";
    red.message_id = "wamid.other-7.5";
    red.actor = Actor{ActorKind::kAgent, "agent-1", "Agent"};
    red.tenant = "shop";
    red.reason = "card number";
    t0 = BenchClock::now();
    auto rr = ledger->Append({red});
    const double rs = Seconds(t0);
    if (!rr.ok()) {
      std::fprintf(stderr, "redact: %s\n", rr.status().ToString().c_str());
      return 1;
    }
    erase_s.push_back(es);
    redact_s.push_back(rs);
    std::printf("round %d: erase subject (%llu keys destroyed, 10 conversations) %.3f s; redact "
                "one message %.3f s\n",
                r + 1, static_cast<unsigned long long>(rep->keys_destroyed), es, rs);
  }
  std::printf("erase a subject with 10,000 messages among 110,000 events: %.3f s; redact one "
              "message: %.3f s (medians of %d; flush + compaction until no copy of the keys "
              "remains included)\n",
              Median(erase_s), Median(redact_s), rounds);
  return 0;
}
