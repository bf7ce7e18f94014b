// Reading JSON configuration with errors that name the member's JSON pointer:
// the one implementation behind chain files and every VNF's config.
//
//   SFC_RETURN_IF_ERROR(CheckMembers(obj, path, {"name", "port"}));
//   SFC_RETURN_IF_ERROR(GetUint(obj, path, "port", 1, 65535, &port));
//   -> "/vnfs/2/config/services/0/port: 70000 is out of range [1, 65535]"
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sfc::json_fields {

// "string", "integer", "object", ... as a person would say it.
const char* TypeName(const nlohmann::json& v);
// `s` as a JSON string literal (control characters escaped), cut at 128 bytes.
std::string Quoted(std::string_view s);

// "<path>: expected <want>, got <type>".
Status WrongType(const std::string& path, const char* want, const nlohmann::json& got);
// Rejects members not in `allowed`: a typo must not pass silently.
Status CheckMembers(const nlohmann::json& obj, const std::string& path,
                    std::initializer_list<std::string_view> allowed);

// Optional members leave *out as it is when absent; `required` ones fail
// with "<path>/<key>: required".
Status GetString(const nlohmann::json& obj, const std::string& path, const char* key, bool required,
                 std::string* out);
Status GetBool(const nlohmann::json& obj, const std::string& path, const char* key, bool* out);
Status GetUint(const nlohmann::json& obj, const std::string& path, const char* key, uint64_t lo,
               uint64_t hi, uint64_t* out, bool required = false);

// GetUint into a narrower unsigned type; [lo, hi] must fit in T.
template <typename T>
Status GetUintAs(const nlohmann::json& obj, const std::string& path, const char* key, uint64_t lo,
                 uint64_t hi, T* out, bool required = false) {
  uint64_t v = *out;
  SFC_RETURN_IF_ERROR(GetUint(obj, path, key, lo, hi, &v, required));
  *out = static_cast<T>(v);
  return Status::Ok();
}

}  // namespace sfc::json_fields
