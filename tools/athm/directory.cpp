#include "tools/athm/directory.h"

#include <cstring>
#include <exception>

#include <nlohmann/json.hpp>

#include "crypto/privacypass.h"

namespace athm::client {
namespace {

using json = nlohmann::json;

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

// Integers only: nlohmann keeps 3.0 as a float and -1 as a signed integer.
std::optional<int64_t> as_int(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    return v.get<int64_t>();
  }
  return std::nullopt;
}

outcome<issuer_directory> parse_checked(std::string_view text) {
  using R = outcome<issuer_directory>;
  if (text.size() > kMaxDirectoryBytes) {
    return R::failure("directory: larger than " + std::to_string(kMaxDirectoryBytes) + " bytes");
  }
  const json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return R::failure("directory: not valid JSON");
  }
  if (!doc.is_object()) {
    return R::failure("directory: must be a JSON object");
  }
  issuer_directory out;

  const auto uri = doc.find("issuer-request-uri");
  if (uri == doc.end()) {
    return R::failure("issuer-request-uri: missing");
  }
  if (!uri->is_string()) {
    return R::failure("issuer-request-uri: must be a string");
  }
  out.issuer_request_uri = uri->get<std::string>();
  if (out.issuer_request_uri.empty() || out.issuer_request_uri.size() > kMaxRequestUriBytes ||
      !printable_ascii(out.issuer_request_uri)) {
    return R::failure("issuer-request-uri: must be 1.." + std::to_string(kMaxRequestUriBytes) +
                      " printable ASCII characters");
  }

  const auto keys = doc.find("token-keys");
  if (keys == doc.end()) {
    return R::failure("token-keys: missing");
  }
  if (!keys->is_array()) {
    return R::failure("token-keys: must be an array");
  }
  if (keys->size() > kMaxDirectoryKeys) {
    return R::failure("token-keys: more than " + std::to_string(kMaxDirectoryKeys) + " entries");
  }
  for (size_t i = 0; i < keys->size(); ++i) {
    const json& e = (*keys)[i];
    const std::string at = "token-keys[" + std::to_string(i) + "]";
    if (!e.is_object()) {
      return R::failure(at + ": must be an object");
    }
    const auto tt = e.find("token-type");
    if (tt == e.end()) {
      return R::failure(at + ".token-type: missing");
    }
    const auto type = as_int(*tt);
    if (!type || *type < 0 || *type > 0xffff) {
      return R::failure(at + ".token-type: must be an integer 0..65535");
    }
    if (*type != athm::pp::kTokenType) {
      ++out.other_token_types;
      continue;
    }
    directory_key k;

    const auto tk = e.find("token-key");
    if (tk == e.end()) {
      return R::failure(at + ".token-key: missing");
    }
    if (!tk->is_string()) {
      return R::failure(at + ".token-key: must be a string");
    }
    const auto& tk_text = tk->get_ref<const std::string&>();
    if (tk_text.size() > 4 * athm::kTokenKeyBytes) {
      return R::failure(at + ".token-key: too long");
    }
    auto bytes = athm::pp::base64url_decode(tk_text);
    if (!bytes.ok()) {
      return R::failure(at + ".token-key: invalid base64url");
    }
    if (bytes.value().size() != athm::kTokenKeyBytes) {
      return R::failure(at + ".token-key: must decode to 163 bytes");
    }
    std::memcpy(k.token_key.data(), bytes.value().data(), athm::kTokenKeyBytes);

    const auto dep = e.find("athm-deployment-id");
    if (dep == e.end()) {
      return R::failure(at + ".athm-deployment-id: missing");
    }
    if (!dep->is_string()) {
      return R::failure(at + ".athm-deployment-id: must be a string");
    }
    k.deployment_id = dep->get<std::string>();
    if (k.deployment_id.size() > kMaxDeploymentIdBytes) {
      return R::failure(at + ".athm-deployment-id: longer than " +
                        std::to_string(kMaxDeploymentIdBytes) + " bytes");
    }

    const auto nb = e.find("athm-buckets");
    if (nb == e.end()) {
      return R::failure(at + ".athm-buckets: missing");
    }
    const auto n = as_int(*nb);
    if (!n || *n < 1 || *n > static_cast<int64_t>(athm::kMaxBuckets)) {
      return R::failure(at + ".athm-buckets: must be an integer 1..256");
    }
    k.n_buckets = static_cast<uint32_t>(*n);

    const auto nbf = e.find("not-before");
    if (nbf != e.end()) {
      const auto t = as_int(*nbf);
      if (!t || *t < 0 || *t >= kMaxNotBefore) {
        return R::failure(at + ".not-before: must be a unix time in seconds (integer)");
      }
      k.not_before = *t;
    }
    out.keys.push_back(std::move(k));
  }
  return out;
}

}  // namespace

outcome<issuer_directory> parse_directory(std::string_view json_text) {
  try {
    return parse_checked(json_text);
  } catch (const std::exception&) {
    // Only allocation failure can get here; every type is checked first.
    return outcome<issuer_directory>::failure("directory: could not be parsed");
  }
}

const directory_key* select_key(const issuer_directory& dir, int64_t now_unix) {
  const directory_key* best = nullptr;
  for (const auto& k : dir.keys) {
    const int64_t nb = k.not_before.value_or(0);
    if (nb > now_unix) {
      continue;
    }
    if (best == nullptr || nb > best->not_before.value_or(0)) {
      best = &k;
    }
  }
  return best;
}

}  // namespace athm::client
