#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses from the repository's fixtures.

    make_seeds.py <repo root> <out dir>

out/event_json: each event of tests/projections/corpus/replay.jsonl, and batches of them.
out/webhooks:   every body of tests/api/corpus (JSON and the invalid-UTF-8 .bin).
out/http:       raw HTTP/1.1 requests to every route, authenticated with the fuzz keys of
                fuzz_http.cc, with bodies from the same fixtures.
out/export_verify: the bundles in tests/fuzz/seeds/export_verify (a real export of the demo's
                conversations, zipped and framed as "=== path" files; see checks.h).
(fuzz_decode_record's seeds are real Records written by make_record_seeds.)
"""
import json
import os
import sys

root, out = sys.argv[1], sys.argv[2]
replay = os.path.join(root, "tests/projections/corpus/replay.jsonl")
api_corpus = os.path.join(root, "tests/api/corpus")


def write(sub, name, data):
    d = os.path.join(out, sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


lines = [l for l in open(replay, encoding="utf-8").read().splitlines() if l.strip()]
# One seed per distinct event type is enough for coverage; all lines would only slow startup.
by_type = {}
for l in lines:
    by_type.setdefault(json.loads(l).get("type"), l)
events = list(by_type.values())
for i, l in enumerate(events):
    write("event_json", f"event-{i:02d}", l)
# Every event type, minimal (as Minimal() in tests/ledger/event_json_test.cc) with the full
# envelope on one of them, so the fuzzer starts with each type's fields.
base = {"conversation_id": "conv-1", "actor": {"kind": "agent", "id": "agent-7"},
        "channel": "whatsapp"}
minimal = {
    "message.sent": {"message_id": "wamid.1", "direction": "outbound",
                     "content": {"text": "hello"}, "reply_to": "wamid.0", "kind": "text"},
    "message.edited": {"message_id": "wamid.1", "content": {"text": "hello again"}},
    "message.deleted": {"message_id": "wamid.1", "scope": "everyone"},
    "message.corrected": {"message_id": "wamid.1", "replacement_message_id": "wamid.2",
                          "reason_code": "wrong_price", "explanation": "x"},
    "message.redacted": {"message_id": "wamid.1", "reason": "card number"},
    "message.status": {"message_id": "wamid.1", "status": "failed", "error_code": "131051",
                       "error_title": "unsupported"},
    "message.reaction": {"message_id": "wamid.1", "emoji": "\U0001F44D", "action": "add"},
    "consent.changed": {"consent": "opt_in", "scope": "marketing"},
    "legal_hold.changed": {"hold": "placed", "case_ref": "CASE-1"},
    "note.added": {"text": "internal"},
}
for t, body in minimal.items():
    write("event_json", "min-" + t, json.dumps(dict(base, type=t, **body), ensure_ascii=False))
write("event_json", "full-envelope", json.dumps(dict(
    base, type="message.sent", idempotency_key="k-1", expected_version=0,
    occurred_at="2026-01-01T09:00:00.123456Z", tenant="acme",
    evidence="ab" * 32, **minimal["message.sent"])))
write("event_json", "batch-all", json.dumps({"events": [json.loads(l) for l in events]}))
write("event_json", "batch-one", json.dumps({"events": [json.loads(events[0])]}))

for name in sorted(os.listdir(api_corpus)):
    if name.endswith((".json", ".bin")) and name != "seed-outbound.json":
        write("webhooks", name, open(os.path.join(api_corpus, name), "rb").read())


def req(method, target, key=None, body=None, extra=()):
    h = [f"{method} {target} HTTP/1.1", "Host: fuzz"]
    if key:
        h.append(f"Authorization: Bearer {key}")
    h.extend(extra)
    if body is not None:
        h.append("Content-Type: application/json")
        h.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(h) + "\r\n\r\n" + (body or "")


conv = json.loads(events[0])["conversation_id"]
# The replay events are of tenant corpus-shop; the fuzz keys are of acme.
acme = [dict(json.loads(l), tenant="acme") for l in events]
seeds = {
    "healthz": req("GET", "/healthz"),
    "readyz": req("GET", "/readyz"),
    "metrics": req("GET", "/metrics"),
    "whoami": req("GET", "/v1/whoami", "fz-admin"),
    "append-one": req("POST", "/v1/events", "fz-writer", json.dumps(acme[0]),
                      ["Idempotency-Key: fz-1"]),
    "append-batch": req("POST", "/v1/events", "fz-admin", json.dumps({"events": acme})),
    "history": req("GET", f"/v1/conversations/{conv}/history?as_of=2026-01-01T10:00:00Z",
                   "fz-admin"),
    "view": req("GET", f"/v1/conversations/{conv}/view", "fz-admin"),
    "view-if-none-match": req("GET", f"/v1/conversations/{conv}/view", "fz-admin",
                              extra=['If-None-Match: W/"view-1-00", "view-2-ab" , *']),
    "history-no-cache": req("GET", f"/v1/conversations/{conv}/history", "fz-admin",
                            extra=["Cache-Control: max-age=0, No-Cache", "Pragma: no-cache"]),
    "events": req("GET", f"/v1/conversations/{conv}/events?after=1&limit=5", "fz-admin"),
    "export": req("GET", f"/v1/conversations/{conv}/export", "fz-admin"),
    "evidence": req("GET", f"/v1/conversations/{conv}/evidence/" + "ab" * 32, "fz-admin"),
    "feed": req("GET", "/v1/feed?after=0&limit=3", "fz-admin"),
    "feed-stream": req("GET", "/v1/feed/stream?after=0", "fz-admin"),
    "analytics": req("GET", "/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
                     "&channel=whatsapp", "fz-admin"),
    "tree-head": req("GET", "/v1/tree-head", "fz-admin"),
    "inclusion": req("GET", "/v1/proofs/inclusion?seq=1&tree_size=2", "fz-admin"),
    "consistency": req("GET", "/v1/proofs/consistency?first=1&second=2", "fz-admin"),
    "wa-verify": req("GET", "/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token="
                     "convledger-verify-7Qx2&hub.challenge=123"),
    "wa-post": req("POST", "/v1/webhooks/whatsapp", None,
                   open(os.path.join(api_corpus, "wa-01-text.json"), encoding="utf-8").read(),
                   ["X-Hub-Signature-256: sha256=" + "00" * 32]),
    "other-tenant": req("GET", f"/v1/conversations/{conv}/view", "fz-globex"),
}
for name, text in seeds.items():
    write("http", name, text)

# Real bundles exported from the demo ledger (checked in: building one needs the CLI).
seed_dir = os.path.join(root, "tests/fuzz/seeds/export_verify")
for name in sorted(os.listdir(seed_dir)):
    with open(os.path.join(seed_dir, name), "rb") as f:
        write("export_verify", name, f.read())
