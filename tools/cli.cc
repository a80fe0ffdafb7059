// Flags -> command structs -> Run*(). The only code in tools/ that knows about CLI11.

#include "tools/cli.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <istream>
#include <map>
#include <ostream>
#include <string>

#include "tools/common.h"

#ifndef CONVLEDGER_VERSION
#define CONVLEDGER_VERSION "unknown"
#endif

namespace convledger::cli {
namespace {

void AddDataOption(CLI::App* sub, std::string* data_dir) {
  sub->add_option("--data", *data_dir, "Ledger directory")->capture_default_str();
}

void AddProgressOption(CLI::App* sub, Progress* progress) {
  sub->add_option("--progress", *progress,
                  "auto: a bar when stderr is a terminal, else a log line now and then")
      ->transform(
          CLI::CheckedTransformer(std::map<std::string, Progress>{{"auto", Progress::kAuto},
                                                                  {"bar", Progress::kBar},
                                                                  {"log", Progress::kLog},
                                                                  {"none", Progress::kNone}},
                                  CLI::ignore_case))
      ->default_str("auto");
}

void AddConversationViewOptions(CLI::App* sub, ConversationViewCommand* cmd) {
  sub->add_option("ID", cmd->conversation_id, "Conversation id")->required();
  sub->add_option("--as-of", cmd->as_of,
                  "A global sequence (the log cut there) or an RFC 3339 time (what had happened "
                  "by then by the source clock)");
  sub->add_flag("--pretty", cmd->pretty, "Indented JSON instead of one line");
}

}  // namespace

int Main(int argc, const char* const* argv, std::istream& in, std::ostream& out,
         std::ostream& err) {
  CLI::App app{"convledger: an event-sourced ledger of customer conversations", "convledger"};
  app.set_version_flag("--version", "convledger " CONVLEDGER_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // --log-level may follow the subcommand

  std::string log_level = "info";
  app.add_option("--log-level", log_level, "Log level on stderr")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  std::string master_key_file;
  app.add_option("--master-key-file", master_key_file,
                 "File holding the master key (64 hex characters); overrides "
                 "CONVLEDGER_MASTER_KEY and CONVLEDGER_MASTER_KEY_FILE (default: "
                 "<data>/keys/master.key)");

  AppendCommand append;
  CLI::App* append_cmd = app.add_subcommand(
      "append",
      "Append JSON events, one per line, from stdin or --file; prints one JSON result per line");
  AddDataOption(append_cmd, &append.data_dir);
  append_cmd->add_option("--file", append.file, "Read events from this file instead of stdin");
  append_cmd->add_flag("--atomic", append.atomic,
                       "Append the whole input as one all-or-nothing batch (one output line)");
  append_cmd
      ->add_option("--durability", append.durability,
                   "wal: acknowledged once in the write-ahead log; fsync: after fsync")
      ->transform(
          CLI::CheckedTransformer(std::map<std::string, Durability>{{"wal", Durability::kWal},
                                                                    {"fsync", Durability::kFsync}},
                                  CLI::ignore_case))
      ->default_str("wal");

  EventsCommand events;
  std::string conversation;
  CLI::App* events_cmd =
      app.add_subcommand("events", "Print stored events as JSON lines (global order by default)");
  AddDataOption(events_cmd, &events.data_dir);
  CLI::Option* conversation_opt = events_cmd->add_option(
      "--conversation", conversation, "Only this conversation, in conversation order");
  events_cmd->add_option("--after", events.after,
                         "Only events after this global_seq (conversation_seq with "
                         "--conversation)");
  events_cmd->add_option("--limit", events.limit, "Print at most this many events (0: all)");

  VerifyCommand verify;
  CLI::App* verify_cmd =
      app.add_subcommand("verify", "Check every record, hash chain and index; JSON summary");
  AddDataOption(verify_cmd, &verify.data_dir);
  AddProgressOption(verify_cmd, &verify.progress);

  verify_cmd
      ->add_option("--projections", verify.projections,
                   "Check the views too: none; sample (up to 100 conversations folded alone and "
                   "compared with the stored state, read-only); full (every view rebuilt from the "
                   "log and compared; opens read-write)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ProjectionCheck>{{"none", ProjectionCheck::kNone},
                                                 {"sample", ProjectionCheck::kSample},
                                                 {"full", ProjectionCheck::kFull}},
          CLI::ignore_case))
      ->default_str("sample");

  VerifyExportCommand verify_export;
  verify_cmd->add_option("path", verify_export.path,
                         "An export to check offline (bundle directory or .zip, .rsmf); without "
                         "it, the ledger in --data is checked");

  ExportCommand export_args;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Export conversations with proofs: bundle (dir/.zip), rsmf, html");
  AddDataOption(export_cmd, &export_args.data_dir);
  AddProgressOption(export_cmd, &export_args.progress);
  export_cmd->add_option("--conversation", export_args.conversations,
                         "Conversation id (repeatable)");
  export_cmd->add_option("--customer", export_args.customer,
                         "Every conversation in which this customer id is an actor");
  export_cmd->add_option("--tenant", export_args.tenant,
                         "Every conversation of this tenant with events in --from..--to");
  export_cmd->add_option("--from", export_args.from, "RFC 3339, inclusive (with --tenant)");
  export_cmd->add_option("--to", export_args.to, "RFC 3339, inclusive (with --tenant)");
  export_cmd->add_option("--format", export_args.format, "bundle, rsmf or html")
      ->check(CLI::IsMember({"bundle", "rsmf", "html"}))
      ->default_str("bundle");
  export_cmd->add_option("--out", export_args.out_path, "Output path (.zip: one zip)")->required();

  ConversationViewCommand history;
  CLI::App* history_cmd = app.add_subcommand(
      "history", "Print one conversation's dispute history as JSON (every version, flags)");
  AddDataOption(history_cmd, &history.data_dir);
  AddConversationViewOptions(history_cmd, &history);

  ConversationViewCommand view;
  CLI::App* view_cmd = app.add_subcommand(
      "view", "Print exactly what the customer's app shows of one conversation, as JSON");
  AddDataOption(view_cmd, &view.data_dir);
  AddConversationViewOptions(view_cmd, &view);

  AnalyticsCommand analytics;
  CLI::App* analytics_cmd = app.add_subcommand(
      "analytics", "Print counters per tenant, agent, UTC day and template as JSON");
  AddDataOption(analytics_cmd, &analytics.data_dir);
  analytics_cmd->add_option("--tenant", analytics.tenant, "Only this tenant (default: all)");
  analytics_cmd->add_option("--from", analytics.from_day, "First UTC day, YYYY-MM-DD (inclusive)");
  analytics_cmd->add_option("--to", analytics.to_day, "Last UTC day, YYYY-MM-DD (inclusive)");
  analytics_cmd->add_option("--as-of", analytics.as_of,
                            "A global sequence (the log cut there) or an RFC 3339 time");
  analytics_cmd->add_flag("--pretty", analytics.pretty, "Indented JSON instead of one line");

  RebuildCommand rebuild;
  CLI::App* rebuild_cmd = app.add_subcommand(
      "rebuild",
      "Rebuild views from the log, compare with the live state byte for byte, print digests");
  AddDataOption(rebuild_cmd, &rebuild.data_dir);
  rebuild_cmd->add_option("--projection", rebuild.projection,
                          "Only this view: history, customer_view or analytics (default: all)");
  rebuild_cmd->add_flag("--check-only", rebuild.check_only,
                        "Compare only; keep the live state (exit 1 when it differs)");
  AddProgressOption(rebuild_cmd, &rebuild.progress);

  StatsCommand stats;
  CLI::App* stats_cmd = app.add_subcommand("stats", "Print ledger statistics as JSON");
  AddDataOption(stats_cmd, &stats.data_dir);

  DemoCommand demo;
  demo.program = argc > 0 && argv[0] != nullptr ? argv[0] : "convledger";
  CLI::App* demo_cmd = app.add_subcommand(
      "demo", "Append the demo conversations (idempotent) and print how to look at them");
  AddDataOption(demo_cmd, &demo.data_dir);

  ServeCommand serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "Run the HTTP API (without --config: the embedded demo default)");
  AddDataOption(serve_cmd, &serve.data_dir);
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0: any free one)")
      ->capture_default_str();
  serve_cmd->add_option("--config", serve.config, "Config file (JSON with comments)")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--durability", serve.durability, "wal or fsync")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, Durability>{{"wal", Durability::kWal},
                                            {"fsync", Durability::kFsync}}));
  serve_cmd->add_flag("!--no-demo-data", serve.demo_data,
                      "Demo mode: do not append the demo conversations");

  CLI::App* apikey_cmd = app.add_subcommand("apikey", "API keys for the server's config file");
  apikey_cmd->require_subcommand(1);
  CLI::App* apikey_new_cmd =
      apikey_cmd->add_subcommand("new", "Print a new random API key and its SHA-256 as JSON");

  KeyPublicCommand key_public;
  CLI::App* key_cmd = app.add_subcommand("key", "The tree signing key");
  key_cmd->require_subcommand(1);
  CLI::App* key_public_cmd =
      key_cmd->add_subcommand("public", "Print the public key that verifies tree heads (PEM)");
  AddDataOption(key_public_cmd, &key_public.data_dir);

  TreeHeadCommand tree_head;
  CLI::App* tree_head_cmd = app.add_subcommand(
      "tree-head", "Print a signed tree head (size, Merkle root, time, Ed25519 signature) as JSON");
  AddDataOption(tree_head_cmd, &tree_head.data_dir);
  tree_head_cmd->add_flag("--pretty", tree_head.pretty, "Indented JSON instead of one line");

  CLI::App* proof_cmd = app.add_subcommand("proof", "Merkle proofs (RFC 9162) as JSON");
  proof_cmd->require_subcommand(1);
  ProofInclusionCommand inclusion;
  CLI::App* inclusion_cmd = proof_cmd->add_subcommand(
      "inclusion", "Audit path proving that event --seq is in the tree of --tree-size events");
  AddDataOption(inclusion_cmd, &inclusion.data_dir);
  inclusion_cmd->add_option("--seq", inclusion.seq, "Global sequence of the event")->required();
  inclusion_cmd->add_option("--tree-size", inclusion.tree_size,
                            "Tree size (number of events) to prove against (default: current)");
  inclusion_cmd->add_flag("--pretty", inclusion.pretty, "Indented JSON instead of one line");
  ProofConsistencyCommand consistency;
  CLI::App* consistency_cmd = proof_cmd->add_subcommand(
      "consistency", "Proof that the tree of --to events extends the tree of --from events");
  AddDataOption(consistency_cmd, &consistency.data_dir);
  consistency_cmd->add_option("--from", consistency.from, "First tree size (at least 1)")
      ->required();
  consistency_cmd->add_option("--to", consistency.to, "Second tree size")->required();
  consistency_cmd->add_flag("--pretty", consistency.pretty, "Indented JSON instead of one line");

  EraseCommand erase;
  CLI::App* erase_cmd = app.add_subcommand(
      "erase",
      "Erase a data subject (crypto-shredding: its keys are destroyed, its events stay); "
      "prints the report as JSON");
  AddDataOption(erase_cmd, &erase.data_dir);
  erase_cmd->add_option("--subject", erase.subject, "The data subject (customer) id")->required();
  erase_cmd->add_option("--reason", erase.reason, "Why (recorded in the events)")->required();
  erase_cmd->add_option("--tenant", erase.tenant, "The subject's tenant")->capture_default_str();
  erase_cmd->add_option("--actor", erase.actor,
                        "Who asked (recorded as an agent; default: system/erasure)");
  erase_cmd->add_flag("--override-hold", erase.override_hold,
                      "Erase despite a legal hold (recorded in the events)");

  SubjectsCommand subjects;
  CLI::App* subjects_cmd = app.add_subcommand(
      "subjects", "List data subjects as JSON lines (conversations, last activity, held, erased)");
  AddDataOption(subjects_cmd, &subjects.data_dir);
  subjects_cmd->add_option("--tenant", subjects.tenant, "Only this tenant (default: all)");

  RetentionCommand retention;
  CLI::App* retention_cmd = app.add_subcommand("retention", "Retention policies");
  retention_cmd->require_subcommand(1);
  CLI::App* retention_apply_cmd = retention_cmd->add_subcommand(
      "apply",
      "Erase the subjects whose conversations have all been inactive longer than their tenant's "
      "period (dry run unless --execute)");
  AddDataOption(retention_apply_cmd, &retention.data_dir);
  retention_apply_cmd
      ->add_option("--policy", retention.policies,
                   "TENANT=DURATION, DURATION Ny (calendar years) or Nd (days); repeatable")
      ->required();
  retention_apply_cmd->add_option("--now", retention.now,
                                  "Judge retention as of this RFC 3339 time (default: now)");
  retention_apply_cmd->add_flag("--execute", retention.execute,
                                "Erase the due subjects (default: only list them)");
  AddProgressOption(retention_apply_cmd, &retention.progress);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e, out, err);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  Log().set_level(spdlog::level::from_str(log_level));
  SetMasterKeyFileFlag(master_key_file);
  // A malformed key in the environment is a usage error, found before anything runs (the
  // commands that open no ledger do not need a key).
  const bool opens_ledger = !(*apikey_cmd) && !(*verify_cmd && !verify_export.path.empty());
  if (opens_ledger) {
    const Status key = CheckMasterKeySettings();
    if (!key.ok() && key.code() == Status::Code::kInvalidArgument) {
      LogError("master key", key);
      return kExitUsage;
    }
  }
  if (conversation_opt->count() > 0) events.conversation = conversation;

  try {
    if (*append_cmd) return RunAppend(append, in, out);
    if (*events_cmd) return RunEvents(events, out);
    if (*verify_cmd && !verify_export.path.empty()) return RunVerifyExport(verify_export, out);
    if (*verify_cmd) return RunVerify(verify, out);
    if (*export_cmd) return RunExport(export_args, out);
    if (*stats_cmd) return RunStats(stats, out);
    if (*history_cmd) return RunHistory(history, out);
    if (*view_cmd) return RunView(view, out);
    if (*analytics_cmd) return RunAnalytics(analytics, out);
    if (*rebuild_cmd) return RunRebuild(rebuild, out);
    if (*demo_cmd) return RunDemo(demo, out);
    if (*serve_cmd) return RunServe(serve, out);
    if (*apikey_new_cmd) return RunApiKeyNew(out);
    if (*erase_cmd) return RunErase(erase, out);
    if (*subjects_cmd) return RunSubjects(subjects, out);
    if (*retention_apply_cmd) return RunRetention(retention, out);
    if (*key_public_cmd) return RunKeyPublic(key_public, out);
    if (*tree_head_cmd) return RunTreeHead(tree_head, out);
    if (*inclusion_cmd) return RunProofInclusion(inclusion, out);
    if (*consistency_cmd) return RunProofConsistency(consistency, out);
  } catch (const std::exception& e) {
    // Nothing below throws by design; an allocation failure or a bug still ends cleanly.
    Log().critical("internal error: {}", e.what());
    return kExitIo;
  }
  return kExitUsage;
}

}  // namespace convledger::cli
