// Crash safety of Durability::kFsync: a child process (crash_writer) appends from several threads
// and reports each acknowledged event; the parent SIGKILLs it at a random moment, reopens the
// ledger and checks that every acknowledged event is there, unchanged, that the log has no gap,
// that Verify passes and that appending continues. Twenty rounds on the same directory.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ledger/ledger.h"
#include "projections/projections.h"
#include "test_util.h"

extern char** environ;

namespace convledger {
namespace {

#ifndef CRASH_WRITER_PATH
#error "CRASH_WRITER_PATH must name the crash_writer executable"
#endif

struct Ack {
  std::string conversation_id;
  uint64_t conversation_seq = 0;
};

struct ChildRun {
  std::string output;
  int wait_status = 0;
};

// Starts crash_writer on `dir`, kills it with SIGKILL after `kill_after`, returns what it printed.
ChildRun RunAndKill(const std::string& dir, int round, std::chrono::milliseconds kill_after,
                    bool erase = false) {
  ChildRun run;
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::string exe = CRASH_WRITER_PATH;
  std::string round_s = std::to_string(round);
  std::string threads_s = "4";
  std::string mode = "erase";
  char* argv[] = {exe.data(), const_cast<char*>(dir.c_str()), round_s.data(), threads_s.data(),
                  erase ? mode.data() : nullptr, nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "posix_spawn " << exe << " failed: " << rc;
    return run;
  }
  // Drain the pipe while the child runs, so it never blocks on a full pipe.
  std::thread reader([&] {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) {
        run.output.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
  });
  std::this_thread::sleep_for(kill_after);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &run.wait_status, 0);
  reader.join();
  ::close(fds[0]);
  return run;
}

TEST(CrashTest, AcknowledgedEventsSurviveSigkillInFsyncMode) {
  constexpr int kRounds = 20;
  test::TempDir dir;
  const std::string ledger_dir = dir.Sub("ledger");

  const unsigned seed = std::random_device{}();
  std::cout << "[ crash    ] seed " << seed << "\n";
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> kill_ms(30, 300);

  std::map<uint64_t, Ack> acked;  // global_seq -> what the child was told
  uint64_t checked_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", seed " + std::to_string(seed));
    const auto kill_after = std::chrono::milliseconds(kill_ms(rng));
    ChildRun run = RunAndKill(ledger_dir, round, kill_after);
    ASSERT_TRUE(WIFSIGNALED(run.wait_status) && WTERMSIG(run.wait_status) == SIGKILL)
        << "crash_writer ended on its own (status " << run.wait_status << "); see its stderr above";

    // Every complete line is an acknowledged event.
    size_t round_acks = 0;
    std::istringstream lines(run.output);
    std::string line;
    while (std::getline(lines, line)) {
      if (lines.eof()) break;  // a torn last line would have no newline; never expected
      std::istringstream fields(line);
      uint64_t global = 0;
      Ack ack;
      ASSERT_TRUE(fields >> global >> ack.conversation_id >> ack.conversation_seq)
          << "unparseable ack line: " << line;
      auto [it, inserted] = acked.emplace(global, ack);
      EXPECT_TRUE(inserted) << "global_seq " << global << " acknowledged twice";
      ++round_acks;
    }

    // Reopen and check every acknowledged event of every round so far.
    Options options;
    options.durability = Durability::kFsync;
    std::unique_ptr<Ledger> ledger = test::OpenOrDie(ledger_dir, options);
    ASSERT_NE(ledger, nullptr);
    const uint64_t last = ledger->LastGlobalSeq();
    ASSERT_OK_AND_ASSIGN(std::vector<Event> events, ledger->ReadGlobal(0));
    ASSERT_EQ(events.size(), last) << "the log has a gap";
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i].global_seq, i + 1) << "the log has a gap";
    }
    for (const auto& [global, ack] : acked) {
      ASSERT_LE(global, last) << "acknowledged global_seq " << global << " lost (last " << last
                              << ")";
      const Event& e = events[global - 1];
      EXPECT_EQ(e.conversation_id, ack.conversation_id) << "global_seq " << global;
      EXPECT_EQ(e.conversation_seq, ack.conversation_seq) << "global_seq " << global;
      ++checked_total;
    }
    VerifyReport report;
    ASSERT_OK(ledger->Verify(&report));
    ASSERT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
    EXPECT_EQ(report.events_checked, last);

    // Appending continues where the log ends.
    Event note;
    note.type = EventType::kNoteAdded;
    note.conversation_id = "parent";
    note.actor = Actor{ActorKind::kSystem, "crash-test", ""};
    note.tenant = "crash";
    note.content = Content{"after round " + std::to_string(round), {}};
    ASSERT_OK_AND_ASSIGN(auto appended, ledger->Append({note}));
    EXPECT_EQ(appended[0].global_seq, last + 1);
    EXPECT_EQ(appended[0].conversation_seq, static_cast<uint64_t>(round + 1));

    std::cout << "[ crash    ] round " << round << ": killed after " << kill_after.count()
              << " ms, " << round_acks << " new acks, log at " << last << "\n";
  }
  std::cout << "[ crash    ] " << acked.size() << " acknowledged events, " << checked_total
            << " checks over " << kRounds << " rounds\n";
  RecordProperty("acknowledged_events", static_cast<int>(acked.size()));
  // The test means nothing if the child never got an append acknowledged.
  EXPECT_GT(acked.size(), 0u);
}

// A kill inside a redaction or an erasure leaves the old state or the new one: never a key half
// destroyed (content that neither opens nor says redacted/erased), never an erasure in one of a
// subject's conversations and not the other, and the views equal a rebuild from the log.
TEST(CrashTest, ErasureInterruptedBySigkillLeavesTheOldOrTheNewState) {
  constexpr int kRounds = 8;
  test::TempDir dir;
  const std::string ledger_dir = dir.Sub("ledger");
  const unsigned seed = std::random_device{}();
  std::cout << "[ crash    ] seed " << seed << "\n";
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> kill_ms(50, 400);
  size_t erasures_seen = 0, redactions_seen = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", seed " + std::to_string(seed));
    ChildRun run = RunAndKill(ledger_dir, round, std::chrono::milliseconds(kill_ms(rng)), true);
    ASSERT_TRUE(WIFSIGNALED(run.wait_status) && WTERMSIG(run.wait_status) == SIGKILL)
        << "crash_writer ended on its own (status " << run.wait_status << ")";
    Options options;
    options.projections = projections::MakeAll();
    std::unique_ptr<Ledger> ledger = test::OpenOrDie(ledger_dir, options);
    ASSERT_NE(ledger, nullptr);
    // Opening every sealed content succeeds: each key is there or destroyed, never damaged.
    ASSERT_OK_AND_ASSIGN(std::vector<Event> events, ledger->ReadGlobal(0));
    std::map<std::string, std::vector<const Event*>> by_conv;
    for (const Event& e : events) by_conv[e.conversation_id].push_back(&e);
    std::map<std::string, bool> erased_subject;  // subject -> erased in "-a"
    for (const auto& [conv, evs] : by_conv) {
      if (conv.rfind("es", 0) != 0) continue;
      bool erased = false, m2_redacted = false;
      for (const Event* e : evs) {
        if (e->type == EventType::kSubjectErased) erased = true;
        if (e->type == EventType::kMessageRedacted) m2_redacted = true;
      }
      for (const Event* e : evs) {
        if (e->type != EventType::kMessageSent) continue;
        if (erased)
          EXPECT_TRUE(e->content_access == ContentAccess::kErased ||
                      e->content_access == ContentAccess::kRedacted)
              << conv << " " << e->message_id;
        else if (e->message_id == "m2" && m2_redacted)
          EXPECT_EQ(e->content_access, ContentAccess::kRedacted) << conv;
        else
          EXPECT_EQ(e->content_access, ContentAccess::kOpened) << conv << " " << e->message_id;
      }
      const std::string subject = conv.substr(2, conv.size() - 4);
      const bool side_a = conv.back() == 'a';
      if (side_a) erased_subject[subject] = erased;
      else if (erased_subject.count(subject))
        EXPECT_EQ(erased_subject[subject], erased) << "erasure of " << subject << " is partial";
      erasures_seen += erased && side_a;
      redactions_seen += m2_redacted;
    }
    VerifyReport report;
    ASSERT_OK(ledger->Verify(&report));
    ASSERT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
    ASSERT_TRUE(ledger->WaitForProjections(std::chrono::seconds(60)));
    for (const char* view : {"history", "customer_view", "analytics"}) {
      ASSERT_OK_AND_ASSIGN(RebuildReport rep, ledger->RebuildProjection(view, false));
      EXPECT_TRUE(rep.equal) << view << ": " << rep.first_difference;
    }
  }
  std::cout << "[ crash    ] " << erasures_seen << " erasures and " << redactions_seen
            << " redactions survived kills\n";
  EXPECT_GT(erasures_seen, 0u);
}

}  // namespace
}  // namespace convledger
