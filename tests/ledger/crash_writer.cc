// Helper for crash_test: appends to a ledger in Durability::kFsync from several threads until it
// is killed, and prints one line per acknowledged event, after Append returned OK:
//
//   <global_seq> <conversation_id> <conversation_seq>
//
// Each Append's lines go out in one write(2) to stdout (a pipe; under PIPE_BUF bytes, so never
// torn), so whatever the parent reads was acknowledged before the kill.
//
// Usage: crash_writer DIR ROUND [THREADS [erase]]
//
// With "erase", one more thread keeps starting a subject with two conversations, redacting one
// of its messages and erasing the subject (crypto-shredding), so kills land inside redactions
// and erasures too. It prints nothing: the test checks the state it leaves.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ledger/event.h"
#include "ledger/ledger.h"
#include "projections/projections.h"

namespace {

using convledger::ActorKind;
using convledger::Channel;
using convledger::Content;
using convledger::Direction;
using convledger::Event;
using convledger::EventType;

std::mutex out_mu;

void WriteAll(const std::string& s) {
  std::lock_guard lk(out_mu);
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::_Exit(3);
    }
    off += static_cast<size_t>(n);
  }
}

Event Base(EventType type, std::string conv) {
  Event e;
  e.type = type;
  e.conversation_id = std::move(conv);
  e.actor.kind = ActorKind::kAgent;
  e.actor.id = "crash-writer";
  e.channel = Channel::kWhatsApp;
  e.tenant = "crash";
  return e;
}

Event SentEv(const std::string& conv, const std::string& message_id) {
  Event e = Base(EventType::kMessageSent, conv);
  e.message_id = message_id;
  e.direction = Direction::kOutbound;
  e.content = Content{"message " + message_id, {}};
  return e;
}

Event EditedEv(const std::string& conv, const std::string& message_id) {
  Event e = Base(EventType::kMessageEdited, conv);
  e.message_id = message_id;
  e.content = Content{"edited " + message_id, {}};
  e.reason = "typo";
  return e;
}

Event NoteEv(const std::string& conv, const std::string& text) {
  Event e = Base(EventType::kNoteAdded, conv);
  e.content = Content{text, {}};
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR ROUND [THREADS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::string round = argv[2];
  const int threads = argc > 3 ? std::atoi(argv[3]) : 4;

  convledger::Options options;
  options.durability = convledger::Durability::kFsync;
  // The views are folded in every append, so a kill also tests that they stay in step.
  options.projections = convledger::projections::MakeAll();
  auto opened = convledger::Ledger::Open(dir, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "crash_writer: open: %s\n", opened.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<convledger::Ledger> ledger = std::move(opened).value();

  std::vector<std::thread> workers;
  if (argc > 4 && std::string(argv[4]) == "erase") {
    workers.emplace_back([&] {
      for (uint64_t i = 0;; ++i) {
        const std::string subject = "subj-r" + round + "-" + std::to_string(i);
        std::vector<Event> batch;
        for (const char* side : {"-a", "-b"}) {
          Event e = SentEv("es" + subject + side, "m1");
          e.subject = subject;
          batch.push_back(e);
          batch.push_back(SentEv("es" + subject + side, "m2"));
        }
        auto r = ledger->Append(std::move(batch));
        Event red = Base(EventType::kMessageRedacted, "es" + subject + "-a");
        red.message_id = "m2";
        red.reason = "card number";
        if (r.ok()) r = ledger->Append({red});
        convledger::EraseRequest req;
        req.tenant = "crash";
        req.subject = subject;
        req.reason = "GDPR";
        auto erased = ledger->EraseSubject(req);
        if (!r.ok() || !erased.ok()) {
          std::fprintf(stderr, "crash_writer: erase: %s\n",
                       (!r.ok() ? r.status() : erased.status()).ToString().c_str());
          std::_Exit(4);
        }
      }
    });
  }
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        // Five conversations shared by every thread and every round, so chains grow across
        // crashes; message ids unique per round, thread and step.
        const std::string conv = "conv-" + std::to_string((t + i) % 5);
        const std::string mid = "r" + round + "-t" + std::to_string(t) + "-" + std::to_string(i);
        std::vector<Event> batch;
        switch (i % 3) {
          case 0:
            batch.push_back(SentEv(conv, mid));
            break;
          case 1:  // an atomic batch: send, edit, note
            batch.push_back(SentEv(conv, mid));
            batch.push_back(EditedEv(conv, mid));
            batch.push_back(NoteEv(conv, "note " + mid));
            break;
          default: {
            Event keyed = NoteEv(conv, "keyed " + mid);
            keyed.idempotency_key = "key-" + mid;
            batch.push_back(keyed);
            break;
          }
        }
        std::vector<std::string> convs;
        for (const Event& e : batch) convs.push_back(e.conversation_id);
        auto r = ledger->Append(std::move(batch));
        if (!r.ok()) {
          std::fprintf(stderr, "crash_writer: append: %s\n", r.status().ToString().c_str());
          std::_Exit(4);
        }
        std::string lines;
        for (size_t k = 0; k < r->size(); ++k) {
          lines += std::to_string((*r)[k].global_seq) + " " + convs[k] + " " +
                   std::to_string((*r)[k].conversation_seq) + "\n";
        }
        WriteAll(lines);
      }
    });
  }
  for (auto& w : workers) w.join();  // never: the parent kills us
  return 0;
}
