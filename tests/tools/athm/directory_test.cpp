#include "tools/athm/directory.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

#include "crypto/privacypass.h"

namespace athm::client {
namespace {

using json = nlohmann::json;

std::string token_key_b64(uint8_t fill) {
  athm::token_key_bytes b{};
  b.fill(fill);
  return athm::pp::base64url_encode(b);
}

json athm_entry(uint8_t fill = 1, int64_t not_before = 1'700'000'000) {
  return json{{"token-type", 49278},
              {"token-key", token_key_b64(fill)},
              {"not-before", not_before},
              {"athm-deployment-id", "dep"},
              {"athm-buckets", 4}};
}

json valid_doc() {
  return json{{"issuer-request-uri", "https://issuer.example/request"},
              {"token-keys", json::array({athm_entry(1), athm_entry(2, 1'700'100'000)})}};
}

std::string error_of(const json& doc) {
  auto r = parse_directory(doc.dump());
  REQUIRE_FALSE(r.ok());
  return r.error();
}

std::string error_of(const std::string& text) {
  auto r = parse_directory(text);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

}  // namespace

TEST_CASE("directory: a valid document", "[client][directory]") {
  json doc = valid_doc();
  // An RFC 9578 key of another type, without ATHM fields, is skipped.
  doc["token-keys"].push_back(json{{"token-type", 2}, {"token-key", "AAAA"}});
  auto r = parse_directory(doc.dump());
  INFO(r.error());
  REQUIRE(r.ok());
  CHECK(r->issuer_request_uri == "https://issuer.example/request");
  CHECK(r->other_token_types == 1);
  REQUIRE(r->keys.size() == 2);
  athm::token_key_bytes one{};
  one.fill(1);
  CHECK(r->keys[0].token_key == one);
  CHECK(r->keys[0].deployment_id == "dep");
  CHECK(r->keys[0].n_buckets == 4);
  REQUIRE(r->keys[0].not_before.has_value());
  CHECK(*r->keys[0].not_before == 1'700'000'000);
  CHECK(*r->keys[1].not_before == 1'700'100'000);
}

TEST_CASE("directory: extra fields are ignored", "[client][directory]") {
  json doc = valid_doc();
  doc["x-extension"] = {{"nested", {1, 2, 3}}};
  doc["token-keys"][0]["x-whatever"] = "yes";
  doc["token-keys"][0]["athm-comment"] = nullptr;
  auto r = parse_directory(doc.dump());
  INFO(r.error());
  REQUIRE(r.ok());
  CHECK(r->keys.size() == 2);
}

TEST_CASE("directory: optional not-before and padded token keys", "[client][directory]") {
  json doc = valid_doc();
  doc["token-keys"][0].erase("not-before");
  // 163 bytes: two padding characters.
  doc["token-keys"][1]["token-key"] = doc["token-keys"][1]["token-key"].get<std::string>() + "==";
  auto r = parse_directory(doc.dump());
  INFO(r.error());
  REQUIRE(r.ok());
  CHECK_FALSE(r->keys[0].not_before.has_value());
}

TEST_CASE("directory: no ATHM key is not a parse error", "[client][directory]") {
  auto r = parse_directory(R"({"issuer-request-uri":"/r","token-keys":[]})");
  REQUIRE(r.ok());
  CHECK(r->keys.empty());
  CHECK(select_key(r.value(), 2'000'000'000) == nullptr);
}

TEST_CASE("directory: missing fields", "[client][directory]") {
  json doc = valid_doc();
  doc.erase("issuer-request-uri");
  CHECK(error_of(doc) == "issuer-request-uri: missing");
  doc = valid_doc();
  doc.erase("token-keys");
  CHECK(error_of(doc) == "token-keys: missing");
  for (const char* f : {"token-type", "token-key", "athm-deployment-id", "athm-buckets"}) {
    doc = valid_doc();
    doc["token-keys"][1].erase(f);
    INFO(f);
    CHECK(error_of(doc) == std::string("token-keys[1].") + f + ": missing");
  }
}

TEST_CASE("directory: wrong types", "[client][directory]") {
  json doc = valid_doc();
  doc["issuer-request-uri"] = 5;
  CHECK(error_of(doc) == "issuer-request-uri: must be a string");
  doc = valid_doc();
  doc["token-keys"] = json::object();
  CHECK(error_of(doc) == "token-keys: must be an array");
  doc = valid_doc();
  doc["token-keys"][0] = "key";
  CHECK(error_of(doc) == "token-keys[0]: must be an object");
  doc = valid_doc();
  doc["token-keys"][0]["token-type"] = "49278";
  CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys[0].token-type: must be an integer"));
  doc["token-keys"][0]["token-type"] = 49278.0;
  CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys[0].token-type: must be an integer"));
  doc["token-keys"][0]["token-type"] = -2;
  CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys[0].token-type: must be an integer"));
  doc["token-keys"][0]["token-type"] = 65536;
  CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys[0].token-type: must be an integer"));
  doc = valid_doc();
  doc["token-keys"][0]["token-key"] = json::array();
  CHECK(error_of(doc) == "token-keys[0].token-key: must be a string");
  doc = valid_doc();
  doc["token-keys"][0]["athm-deployment-id"] = 7;
  CHECK(error_of(doc) == "token-keys[0].athm-deployment-id: must be a string");
  for (const json& bad : {json("4"), json(4.5), json(0), json(257), json(-1), json(true), json(nullptr)}) {
    doc = valid_doc();
    doc["token-keys"][0]["athm-buckets"] = bad;
    INFO(bad.dump());
    CHECK(error_of(doc) == "token-keys[0].athm-buckets: must be an integer 1..256");
  }
  for (const json& bad : {json("1700000000"), json(1.5), json(-1), json(99'999'999'999LL)}) {
    doc = valid_doc();
    doc["token-keys"][0]["not-before"] = bad;
    INFO(bad.dump());
    CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys[0].not-before: "));
  }
}

TEST_CASE("directory: bad values", "[client][directory]") {
  json doc = valid_doc();
  doc["issuer-request-uri"] = "";
  CHECK_THAT(error_of(doc), Catch::StartsWith("issuer-request-uri: must be 1.."));
  doc["issuer-request-uri"] = "/a\nb";
  CHECK_THAT(error_of(doc), Catch::StartsWith("issuer-request-uri: must be 1.."));
  doc["issuer-request-uri"] = "/" + std::string(kMaxRequestUriBytes, 'a');
  CHECK_THAT(error_of(doc), Catch::StartsWith("issuer-request-uri: must be 1.."));

  doc = valid_doc();
  doc["token-keys"][0]["token-key"] = "!!!!";
  CHECK(error_of(doc) == "token-keys[0].token-key: invalid base64url");
  athm::token_key_bytes b{};
  doc["token-keys"][0]["token-key"] = athm::pp::base64url_encode(std::span(b.data(), 162));
  CHECK(error_of(doc) == "token-keys[0].token-key: must decode to 163 bytes");
  doc["token-keys"][0]["token-key"] = std::string(4000, 'A');
  CHECK(error_of(doc) == "token-keys[0].token-key: too long");

  doc = valid_doc();
  doc["token-keys"][0]["athm-deployment-id"] = std::string(256, 'd');
  CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys[0].athm-deployment-id: longer than"));
}

TEST_CASE("directory: not a directory at all", "[client][directory]") {
  CHECK(error_of(std::string()) == "directory: not valid JSON");
  CHECK(error_of(std::string("{")) == "directory: not valid JSON");
  CHECK(error_of(std::string("{\"a\":1} trailing")) == "directory: not valid JSON");
  CHECK(error_of(std::string("[1,2]")) == "directory: must be a JSON object");
  CHECK(error_of(std::string("\"text\"")) == "directory: must be a JSON object");
  CHECK(error_of(std::string("null")) == "directory: must be a JSON object");
  CHECK(error_of(std::string("<html></html>")) == "directory: not valid JSON");
  const std::string bad_utf8 =
      std::string(R"({"issuer-request-uri":"/r","token-keys":[],"x":")") + "\xff" + "\"}";
  CHECK(error_of(bad_utf8) == "directory: not valid JSON");
}

TEST_CASE("directory: size bounds", "[client][directory]") {
  // Exactly at the limit (padded with whitespace) parses; one more byte not.
  std::string text = valid_doc().dump();
  text.append(kMaxDirectoryBytes - text.size(), ' ');
  REQUIRE(text.size() == kMaxDirectoryBytes);
  CHECK(parse_directory(text).ok());
  text.push_back(' ');
  CHECK_THAT(error_of(text), Catch::StartsWith("directory: larger than"));
  CHECK_THAT(error_of(std::string(10 * 1024 * 1024, '[')), Catch::StartsWith("directory: larger than"));

  // Deep nesting within the limit fails cleanly.
  std::string deep(kMaxDirectoryBytes / 2, '[');
  deep.append(kMaxDirectoryBytes / 2, ']');
  CHECK(error_of(deep) == "directory: must be a JSON object");

  json doc = valid_doc();
  doc["token-keys"] = json::array();
  for (size_t i = 0; i < kMaxDirectoryKeys; ++i) {
    doc["token-keys"].push_back(json{{"token-type", 1}});
  }
  CHECK(parse_directory(doc.dump()).ok());
  doc["token-keys"].push_back(json{{"token-type", 1}});
  CHECK_THAT(error_of(doc), Catch::StartsWith("token-keys: more than"));
}

TEST_CASE("directory: select_key", "[client][directory]") {
  issuer_directory d;
  d.issuer_request_uri = "/r";
  d.keys.resize(4);
  d.keys[0].not_before = 100;
  d.keys[1].not_before = 300;
  d.keys[2].not_before = 200;
  d.keys[3].not_before = 300;  // same as [1]: the first wins
  CHECK(select_key(d, 99) == nullptr);
  CHECK(select_key(d, 100) == &d.keys[0]);
  CHECK(select_key(d, 250) == &d.keys[2]);
  CHECK(select_key(d, 300) == &d.keys[1]);
  CHECK(select_key(d, 1'000'000) == &d.keys[1]);
  d.keys.push_back(directory_key{});  // no not-before: usable from 0
  CHECK(select_key(d, 50) == &d.keys[4]);
  CHECK(select_key(d, 150) == &d.keys[0]);
}

}  // namespace athm::client
