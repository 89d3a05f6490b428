// A table of malformed requests, each with the status the daemon must send,
// followed by proof that none of them disturbed the daemon or spent a token.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

namespace {

enum class listener { public_side, internal_side };

struct bad_request {
  std::string name;
  listener where;
  http_request request;
  unsigned expected;
};

http_request post(const std::string& target, const std::string& content_type, std::string body) {
  http_request r;
  r.method = "POST";
  r.target = target;
  if (!content_type.empty()) {
    r.headers.emplace_back("Content-Type", content_type);
  }
  r.body = std::move(body);
  r.keep_alive = false;
  return r;
}

http_request with_method(const std::string& method, const std::string& target,
                         const std::string& content_type = "", std::string body = "") {
  http_request r = post(target, content_type, std::move(body));
  r.method = method;
  return r;
}

std::string request_body(uint16_t type, uint8_t truncated_id, std::span<const uint8_t> t) {
  std::string b;
  b.push_back(static_cast<char>(type >> 8));
  b.push_back(static_cast<char>(type & 0xff));
  b.push_back(static_cast<char>(truncated_id));
  b += as_string(t);
  return b;
}

}  // namespace

TEST_CASE("malformed requests get the documented status", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  const athm::public_key& pk = issuer.current();
  const std::string req_path = issuer.request_target;
  const uint8_t kid = pk.truncated_id();

  const pending_request valid = make_request(pk);
  const std::string& good = valid.body;
  REQUIRE(good.size() == athm::pp::kTokenRequestBytes);
  const auto t = std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(good.data()) + 3, athm::kRequestBytes);

  std::array<uint8_t, athm::kElementBytes> identity{};
  std::array<uint8_t, athm::kElementBytes> x_too_big{};
  x_too_big.fill(0xff);
  x_too_big[0] = 0x02;
  std::array<uint8_t, athm::kElementBytes> bad_prefix{};
  std::copy(t.begin(), t.end(), bad_prefix.begin());
  bad_prefix[0] = 0x05;
  std::array<uint8_t, athm::kElementBytes> uncompressed_tag = bad_prefix;
  uncompressed_tag[0] = 0x04;
  const auto off_curve = off_curve_point();

  // Tokens to tamper with; each must still redeem afterwards.
  const std::vector<encoded_token> tokens = issue_tokens(d.public_port(), issuer, 2, 2);
  const encoded_token& tok = tokens[0];
  auto tampered = [&](size_t offset) {
    encoded_token x = tok;
    x[offset] ^= 0x01;
    return as_string(x);
  };
  constexpr size_t kT = 2 + athm::kKeyIdBytes;
  constexpr size_t kP = kT + athm::kScalarBytes;
  constexpr size_t kQ = kP + athm::kElementBytes;
  encoded_token wrong_type = tok;
  wrong_type[1] = 0x02;
  wrong_type[0] = 0x00;
  encoded_token unknown_key = tok;
  for (size_t i = 2; i < kT; ++i) {
    unknown_key[i] ^= 0x5a;
  }
  encoded_token big_scalar = tok;
  std::fill(big_scalar.begin() + kT, big_scalar.begin() + kP, 0xff);
  encoded_token swapped = tok;
  std::copy(tok.begin() + kP, tok.begin() + kQ, swapped.begin() + kQ);
  std::copy(tok.begin() + kQ, tok.end(), swapped.begin() + kP);
  encoded_token identity_p = tok;
  std::fill(identity_p.begin() + kP, identity_p.begin() + kQ, 0);
  const std::string oversized(20000, 'A');

  const std::vector<bad_request> table = {
      // Issuance on the public listener.
      {"issuance: wrong media type", listener::public_side, post(req_path, "text/plain", good), 415},
      {"issuance: JSON media type", listener::public_side, post(req_path, "application/json", good), 415},
      {"issuance: token media type", listener::public_side, post(req_path, kTokenMediaType, good), 415},
      {"issuance: no media type", listener::public_side, post(req_path, "", good), 415},
      {"issuance: body over the limit", listener::public_side, post(req_path, kRequestMediaType, oversized), 413},
      {"issuance: empty body", listener::public_side, post(req_path, kRequestMediaType, ""), 422},
      {"issuance: 35 bytes", listener::public_side, post(req_path, kRequestMediaType, good.substr(0, 35)), 422},
      {"issuance: 37 bytes", listener::public_side, post(req_path, kRequestMediaType, good + '\0'), 422},
      {"issuance: token type 0x0002", listener::public_side, post(req_path, kRequestMediaType, request_body(0x0002, kid, t)), 422},
      {"issuance: token type 0xC07F", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07F, kid, t)), 422},
      {"issuance: unknown truncated key id", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07E, static_cast<uint8_t>(kid ^ 0x01), t)), 422},
      {"issuance: identity point", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07E, kid, identity)), 422},
      {"issuance: off-curve point", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07E, kid, off_curve)), 422},
      {"issuance: x >= p", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07E, kid, x_too_big)), 422},
      {"issuance: bad point prefix", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07E, kid, bad_prefix)), 422},
      {"issuance: uncompressed tag", listener::public_side, post(req_path, kRequestMediaType, request_body(0xC07E, kid, uncompressed_tag)), 422},
      // Redemption on the internal listener.
      {"redeem: wrong media type", listener::internal_side, post("/redeem", "text/plain", as_string(tok)), 415},
      {"redeem: body over the limit", listener::internal_side, post("/redeem", kTokenMediaType, oversized), 413},
      {"redeem: empty body", listener::internal_side, post("/redeem", kTokenMediaType, ""), 422},
      {"redeem: truncated token", listener::internal_side, post("/redeem", kTokenMediaType, as_string(tok).substr(0, 131)), 422},
      {"redeem: trailing byte", listener::internal_side, post("/redeem", kTokenMediaType, as_string(tok) + '\0'), 422},
      {"redeem: wrong token type", listener::internal_side, post("/redeem", kTokenMediaType, as_string(wrong_type)), 422},
      {"redeem: unknown key id", listener::internal_side, post("/redeem", kTokenMediaType, as_string(unknown_key)), 422},
      {"redeem: tampered t", listener::internal_side, post("/redeem", kTokenMediaType, tampered(kT + 31)), 422},
      {"redeem: tampered P", listener::internal_side, post("/redeem", kTokenMediaType, tampered(kP + 32)), 422},
      {"redeem: tampered Q", listener::internal_side, post("/redeem", kTokenMediaType, tampered(kQ + 32)), 422},
      {"redeem: P and Q swapped", listener::internal_side, post("/redeem", kTokenMediaType, as_string(swapped)), 422},
      {"redeem: t >= group order", listener::internal_side, post("/redeem", kTokenMediaType, as_string(big_scalar)), 422},
      {"redeem: identity P", listener::internal_side, post("/redeem", kTokenMediaType, as_string(identity_p)), 422},
      // Wrong methods on known routes.
      {"GET on the issuance route", listener::public_side, with_method("GET", req_path), 405},
      {"PUT on the issuance route", listener::public_side, with_method("PUT", req_path, kRequestMediaType, good), 405},
      {"DELETE on the issuance route", listener::public_side, with_method("DELETE", req_path), 405},
      {"POST on the directory", listener::public_side, with_method("POST", kDirectoryPath, kRequestMediaType, good), 405},
      {"GET /redeem", listener::internal_side, with_method("GET", "/redeem"), 405},
      {"PUT /redeem", listener::internal_side, with_method("PUT", "/redeem", kTokenMediaType, as_string(tok)), 405},
      // Unknown routes.
      {"unknown path (public)", listener::public_side, with_method("GET", "/nope"), 404},
      {"unknown path (internal)", listener::internal_side, with_method("GET", "/nope"), 404},
  };

  for (const auto& c : table) {
    const uint16_t port = c.where == listener::public_side ? d.public_port() : d.internal_port();
    const http_reply r = http_exchange(port, c.request);
    INFO(c.name << ": " << r.describe());
    CHECK(r.status == c.expected);
  }

  // Nothing above disturbed the daemon or spent a token.
  CHECK(http_get(d.public_port(), "/readyz").status == 200);
  for (const auto& token : tokens) {
    const redeem_result r = redeem(d.internal_port(), token);
    INFO(r.reply.describe());
    CHECK(r.status() == 200);
    CHECK(r.bucket == 2u);
  }
  const encoded_token fresh = issue_token(d.public_port(), issuer, 1);
  const redeem_result rf = redeem(d.internal_port(), fresh);
  CHECK(rf.status() == 200);
  CHECK(rf.bucket == 1u);
  CHECK_FALSE(d.poll_exit().has_value());
}

TEST_CASE("malformed requests on a keep-alive connection", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  const athm::public_key& pk = issuer.current();

  // A 422 leaves the connection usable for the next request.
  http_connection conn(d.public_port());
  http_request bad = post(issuer.request_target, kRequestMediaType, "short");
  bad.keep_alive = true;
  const http_reply r1 = conn.send(bad);
  CHECK(r1.status == 422);
  const encoded_token t = issue_token(conn, issuer, pk, 0);
  CHECK(token_key_id(t) == pk.id());
  CHECK(redeem(d.internal_port(), t).status() == 200);
}
