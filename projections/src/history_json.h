// A small streaming JSON writer for the history projection. Private to projections/.
//
// The history's stored fragments are written with it instead of building nlohmann::json trees:
// the fold runs once per event and the tree building, parsing and dumping was most of its cost.
// Output is compact and byte-compatible with nlohmann::json::dump() (same escaping), provided the
// caller writes object keys in sorted (byte) order, which every writer in history does; the
// tests check the rendered document against a parse-and-dump round trip. Invalid UTF-8 is
// replaced by U+FFFD, so the output is always valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace convledger::projections::history {

class JsonOut {
 public:
  explicit JsonOut(std::string* out) : out_(out) {}

  void BeginObject() {
    Sep();
    out_->push_back('{');
    first_ = true;
  }
  void EndObject() {
    out_->push_back('}');
    first_ = false;
  }
  void BeginArray() {
    Sep();
    out_->push_back('[');
    first_ = true;
  }
  void EndArray() {
    out_->push_back(']');
    first_ = false;
  }
  // An object key; the next call writes its value.
  void Key(std::string_view key);
  void String(std::string_view s);
  void Int(int64_t v);
  void Uint(uint64_t v);
  void Bool(bool v) {
    Sep();
    out_->append(v ? "true" : "false");
  }
  void Null() {
    Sep();
    out_->append("null");
  }
  // A time in microseconds since the epoch as RFC 3339 (ledger/time.h's format).
  void Time(int64_t micros);
  // An already serialized JSON value.
  void Raw(std::string_view json) {
    Sep();
    out_->append(json);
  }

 private:
  void Sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  std::string* out_;
  bool first_ = true;
  bool after_key_ = false;
};

// Writes a nlohmann::json value (a template over the JSON type, so this header does not include
// it) byte for byte as its dump() would: its objects iterate their keys in sorted order, which is
// what JsonOut needs. Floating-point and binary values, which no view stores, go through dump().
template <typename Json>
void AppendJson(JsonOut& w, const Json& j) {
  switch (j.type()) {
    case Json::value_t::object:
      w.BeginObject();
      for (auto it = j.begin(); it != j.end(); ++it) {
        w.Key(it.key());
        AppendJson(w, it.value());
      }
      w.EndObject();
      return;
    case Json::value_t::array:
      w.BeginArray();
      for (const auto& v : j) AppendJson(w, v);
      w.EndArray();
      return;
    case Json::value_t::string:
      w.String(j.template get_ref<const typename Json::string_t&>());
      return;
    case Json::value_t::boolean:
      w.Bool(j.template get<bool>());
      return;
    case Json::value_t::number_integer:
      w.Int(j.template get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      w.Uint(j.template get<uint64_t>());
      return;
    case Json::value_t::null:
      w.Null();
      return;
    default:
      w.Raw(j.dump(-1, ' ', false, Json::error_handler_t::replace));
      return;
  }
}

// Appends `s` as a JSON string (quotes included), escaped like nlohmann::json.
void AppendJsonString(std::string* out, std::string_view s);

// FormatRfc3339 (ledger/time.h) without snprintf; identical output.
void AppendRfc3339(std::string* out, int64_t micros);

}  // namespace convledger::projections::history
