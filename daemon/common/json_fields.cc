#include "common/json_fields.h"

namespace sfc::json_fields {

using nlohmann::json;

const char* TypeName(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

std::string Quoted(std::string_view s) {
  // As a JSON string: a NUL, newline or invalid UTF-8 in user input must not
  // cut or garble the error message that quotes it.
  constexpr size_t kMaxShown = 128;
  std::string shown = json(std::string(s.substr(0, kMaxShown)))
                          .dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMaxShown) shown += "... (" + std::to_string(s.size()) + " bytes)";
  return shown;
}

Status WrongType(const std::string& path, const char* want, const json& got) {
  return InvalidArgument(path + ": expected " + want + ", got " + TypeName(got));
}

Status CheckMembers(const json& obj, const std::string& path,
                    std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, _] : obj.items()) {
    bool known = false;
    for (auto a : allowed) known |= (key == a);
    if (known) continue;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return InvalidArgument(path + "/" + key + ": unknown member (expected one of: " + list + ")");
  }
  return Status::Ok();
}

Status GetString(const json& obj, const std::string& path, const char* key, bool required,
                 std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return InvalidArgument(path + "/" + key + ": required");
    return Status::Ok();
  }
  if (!it->is_string()) return WrongType(path + "/" + key, "string", *it);
  *out = it->get<std::string>();
  return Status::Ok();
}

Status GetBool(const json& obj, const std::string& path, const char* key, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::Ok();
  if (!it->is_boolean()) return WrongType(path + "/" + key, "boolean", *it);
  *out = it->get<bool>();
  return Status::Ok();
}

Status GetUint(const json& obj, const std::string& path, const char* key, uint64_t lo, uint64_t hi,
               uint64_t* out, bool required) {
  auto it = obj.find(key);
  const std::string p = path + "/" + key;
  if (it == obj.end()) {
    if (required) return InvalidArgument(p + ": required");
    return Status::Ok();
  }
  if (it->is_number_integer() && !it->is_number_unsigned() && it->get<int64_t>() < 0)
    return InvalidArgument(p + ": must not be negative (got " + std::to_string(it->get<int64_t>()) +
                           ")");
  if (!it->is_number_unsigned() && !it->is_number_integer()) return WrongType(p, "integer", *it);
  uint64_t v = it->get<uint64_t>();
  if (v < lo || v > hi)
    return InvalidArgument(p + ": " + std::to_string(v) + " is out of range [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = v;
  return Status::Ok();
}

}  // namespace sfc::json_fields
