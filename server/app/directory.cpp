#include "server/app/directory.h"

#include <openssl/sha.h>

#include <array>

#include <nlohmann/json.hpp>

#include "crypto/privacypass.h"
#include "server/keys/key_file.h"

namespace athm::app {
namespace {

using json = nlohmann::ordered_json;
using keys::clock;

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ows(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Strips "W/" so that a weak and a strong tag compare by their opaque part.
std::string_view opaque_tag(std::string_view tag) {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') {
    tag.remove_prefix(2);
  }
  return tag;
}

}  // namespace

std::string build_directory_body(std::string_view request_uri,
                                 const std::vector<std::shared_ptr<const keys::issuer_key>>& keys) {
  json doc = json::object();
  doc["issuer-request-uri"] = request_uri;
  json list = json::array();
  for (const auto& k : keys) {
    const athm::public_key& pub = k->pub();
    json e = json::object();
    e["token-type"] = athm::pp::kTokenType;
    e["token-key"] = athm::pp::base64url_encode(pub.token_key());
    e["not-before"] = keys::to_unix_seconds(k->schedule.not_before);
    e["athm-deployment-id"] = pub.params().deployment_id();
    e["athm-buckets"] = pub.params().n_buckets();
    list.push_back(std::move(e));
  }
  doc["token-keys"] = std::move(list);
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string make_etag(std::string_view body) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const uint8_t*>(body.data()), body.size(), digest.data());
  return "\"" + keys::hex_public(std::span<const uint8_t>(digest.data(), 16)) + "\"";
}

bool if_none_match_matches(std::string_view value, std::string_view etag) {
  const std::string_view ours = opaque_tag(etag);
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (item == "*") {
      return true;
    }
    const std::string_view tag = opaque_tag(item);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' && tag == ours) {
      return true;
    }
  }
  return false;
}

std::shared_ptr<const directory_document> directory_cache::get(
    const std::shared_ptr<const keys::key_ring>& ring, clock::time_point now) {
  std::lock_guard lock(mu_);
  if (current_.doc && current_.ring == ring && now >= current_.valid_from &&
      now < current_.valid_until) {
    return current_.doc;
  }
  auto doc = std::make_shared<directory_document>();
  doc->body = build_directory_body(request_uri_, ring->published(now));
  doc->etag = make_etag(doc->body);

  // The published set only changes when now crosses a publish_at or an
  // expires of some key in the ring.
  clock::time_point from = clock::time_point::min();
  clock::time_point until = clock::time_point::max();
  for (const auto& k : ring->all()) {
    for (const clock::time_point b : {k->schedule.publish_at, k->schedule.expires}) {
      if (b <= now && b > from) {
        from = b;
      }
      if (b > now && b < until) {
        until = b;
      }
    }
  }
  current_ = entry{ring, from, until, doc};
  return doc;
}

}  // namespace athm::app
