// The `athm` command line against a real dev-mode daemon: issue a token into
// a file, redeem it on /redeem and through forward-auth, see replays refused.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

TEST_CASE("athm issue and athm redeem against athmd --dev", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());

  SECTION("raw token file, POST /redeem") {
    const auto token_file = tmp / "token.bin";
    const run_result issued =
        run_athm({"issue", "--url", d.public_url(), "--header", "X-Athm-Bucket: 2", "--out",
                  token_file.string()});
    INFO("athm issue: exit " << issued.status.code << "\n" << issued.err << issued.out);
    REQUIRE(issued.status.exited);
    REQUIRE(issued.status.code == 0);
    const std::string bytes = read_file(token_file);
    REQUIRE(bytes.size() == athm::pp::kTokenBytes);
    CHECK(static_cast<uint8_t>(bytes[0]) == 0xC0);
    CHECK(static_cast<uint8_t>(bytes[1]) == 0x7E);
    CHECK(bytes.substr(2, athm::kKeyIdBytes) == as_string(issuer.current().id()));
    struct stat st {};
    REQUIRE(::stat(token_file.c_str(), &st) == 0);
    CHECK((st.st_mode & 077) == 0);

    const std::string url = d.internal_url() + "/redeem";
    const run_result r1 = run_athm({"redeem", "--url", url, "--token", token_file.string()});
    INFO("athm redeem: exit " << r1.status.code << "\n" << r1.err << r1.out);
    REQUIRE(r1.status.exited);
    CHECK(r1.status.code == 0);
    const auto j = nlohmann::json::parse(r1.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j.value("bucket", -1) == 2);
    CHECK(j.value("key_id", std::string()) == hex(issuer.current().id()));

    const run_result r2 = run_athm({"redeem", "--url", url, "--token", token_file.string()});
    INFO("second athm redeem: " << r2.err << r2.out);
    REQUIRE(r2.status.exited);
    CHECK(r2.status.code == 1);
  }

  SECTION("base64 token file, forward-auth") {
    const auto token_file = tmp / "token.txt";
    const run_result issued =
        run_athm({"issue", "--url", d.public_url(), "--header", "X-Athm-Bucket: 1", "--out",
                  token_file.string(), "--base64"});
    INFO("athm issue: " << issued.err << issued.out);
    REQUIRE(issued.status.exited);
    REQUIRE(issued.status.code == 0);
    const std::string text = read_file(token_file);
    auto decoded = athm::pp::base64url_decode(text.substr(0, text.find_last_not_of("\r\n") + 1));
    REQUIRE(decoded.ok());
    REQUIRE(decoded->size() == athm::pp::kTokenBytes);

    const std::string url = d.internal_url() + "/auth";
    const run_result r1 =
        run_athm({"redeem", "--auth", "--url", url, "--token", token_file.string()});
    INFO("athm redeem --auth: " << r1.err << r1.out);
    REQUIRE(r1.status.exited);
    CHECK(r1.status.code == 0);
    CHECK(r1.out.find("bucket: 1") != std::string::npos);

    const run_result r2 =
        run_athm({"redeem", "--auth", "--url", url, "--token", token_file.string()});
    REQUIRE(r2.status.exited);
    CHECK(r2.status.code == 1);
    CHECK(r2.out.find("status: 401") != std::string::npos);
  }

  SECTION("issue to stdout, denied bucket, unreachable issuer") {
    const run_result out = run_athm({"issue", "--url", d.public_url()});
    REQUIRE(out.status.exited);
    REQUIRE(out.status.code == 0);
    auto decoded = athm::pp::base64url_decode(out.out.substr(0, out.out.find('\n')));
    REQUIRE(decoded.ok());
    CHECK(decoded->size() == athm::pp::kTokenBytes);

    // The attester denies an out-of-range bucket: a refusal, exit 1.
    const run_result denied =
        run_athm({"issue", "--url", d.public_url(), "--header", "X-Athm-Bucket: 9"});
    INFO("denied: " << denied.err);
    REQUIRE(denied.status.exited);
    CHECK(denied.status.code == 1);

    // Nothing listens there: a failure, exit 2.
    const run_result down = run_athm(
        {"issue", "--url", "http://127.0.0.1:" + std::to_string(free_port()), "--timeout-ms",
         "3000"});
    REQUIRE(down.status.exited);
    CHECK(down.status.code == 2);
  }
}
