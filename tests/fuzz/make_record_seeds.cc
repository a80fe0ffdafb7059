// Writes real stored Records as seeds for fuzz_decode_record: appends the events of a JSONL file
// (one event per line, e.g. tests/projections/corpus/replay.jsonl) to a temporary ledger and saves
// each stored Record as <out_dir>/record-<global_seq>. Used by tests/fuzz/run only.
//   make_record_seeds <events.jsonl> <out_dir>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ledger/event_json.h"
#include "ledger/ledger.h"

int main(int argc, char** argv) {
  using namespace convledger;
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_record_seeds <events.jsonl> <out_dir>\n");
    return 2;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "convledger-seeds-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  int rc = 0;
  {
    auto l = Ledger::Open(tmpl, Options{});
    if (!l.ok()) {
      std::fprintf(stderr, "%s\n", l.status().ToString().c_str());
      return 1;
    }
    std::ifstream in(argv[1]);
    std::string line;
    std::vector<Event> events;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto e = ParseEventJson(line);
      if (e.ok()) events.push_back(std::move(*e));
    }
    for (Event& e : events) (void)(*l)->Append({std::move(e)}, AppendOptions{});
    std::filesystem::create_directories(argv[2]);
    size_t n = 0;
    Status s = (*l)->ScanGlobal(0, ReadOptions{}, [&](const RawEvent& r) {
      std::ofstream out(std::string(argv[2]) + "/record-" + std::to_string(r.global_seq),
                        std::ios::binary);
      out.write(r.record.data(), static_cast<std::streamsize>(r.record.size()));
      ++n;
      return true;
    });
    if (!s.ok()) rc = 1;
    std::fprintf(stderr, "make_record_seeds: %zu records\n", n);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return rc;
}
