#include "server/http/tls_context.h"

#include "tests/server/http/tls_test_support.h"

#include <openssl/ssl.h>

#include <catch2/catch.hpp>

#include <sys/stat.h>

namespace athm::http::test {
namespace {

// The error message of the tls_error thrown by loading |files|, or "".
std::string load_error(const tls_files& files) {
  try {
    tls_context ctx(files);
  } catch (const tls_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("a context loads an ECDSA certificate and key and describes the certificate", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto c = pki.issue("server", "athm-test-server-1", 1001);
  tls_context ctx({c.cert_file, c.key_file});

  CHECK(ctx.generation() == 1);
  REQUIRE(ctx.current() != nullptr);
  const auto info = ctx.certificate();
  CHECK(info.subject == "/CN=athm-test-server-1");
  CHECK(info.serial == "03E9");
  CHECK_FALSE(info.not_after_text.empty());
  // Issued for two days from now.
  const auto left = info.not_after - std::chrono::system_clock::now();
  CHECK(left > std::chrono::hours(47));
  CHECK(left <= std::chrono::hours(48) + std::chrono::minutes(1));
  CHECK(contains(info.summary(), "subject /CN=athm-test-server-1, serial 03E9, not after "));
  CHECK(ctx.files().cert_file == c.cert_file);
  CHECK(ctx.counters().handshakes_completed == 0);
}

TEST_CASE("a context loads an RSA certificate and key", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto c = pki.issue("rsa", "athm-test-rsa", 77, key_kind::rsa_2048);
  tls_context ctx({c.cert_file, c.key_file});
  CHECK(ctx.certificate().subject == "/CN=athm-test-rsa");
  CHECK(ctx.certificate().serial == "4D");
}

TEST_CASE("the context allows TLS 1.2 and 1.3 only, with forward-secret AEAD suites", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto c = pki.issue("server", "athm-test-server-1", 1001);
  tls_context ctx({c.cert_file, c.key_file});
  SSL_CTX* h = ctx.current()->native_handle();

  CHECK(SSL_CTX_get_min_proto_version(h) == TLS1_2_VERSION);
  CHECK(SSL_CTX_get_max_proto_version(h) == TLS1_3_VERSION);
  CHECK((SSL_CTX_get_options(h) & SSL_OP_CIPHER_SERVER_PREFERENCE) != 0);

  const STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(h);
  REQUIRE(ciphers != nullptr);
  REQUIRE(sk_SSL_CIPHER_num(ciphers) == 6);
  for (size_t i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    INFO(SSL_CIPHER_get_name(cipher));
    CHECK(SSL_CIPHER_get_kx_nid(cipher) == NID_kx_ecdhe);
    CHECK(SSL_CIPHER_is_aead(cipher) == 1);
  }
  // Server preference starts with AES-128-GCM.
  CHECK(std::string(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, 0))) ==
        "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_CASE("start-up errors name the file and problem", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto c = pki.issue("server", "athm-test-server-1", 1001);
  const auto other = pki.issue("other", "athm-test-other", 1002);

  SECTION("missing certificate file") {
    const auto missing = dir.file("nope.pem");
    const auto msg = load_error({missing, c.key_file});
    CHECK(contains(msg, "cert_file " + missing + ": cannot open: No such file or directory"));
  }
  SECTION("missing key file") {
    const auto missing = dir.file("nope.key");
    const auto msg = load_error({c.cert_file, missing});
    CHECK(contains(msg, "key_file " + missing + ": cannot open: No such file or directory"));
  }
  SECTION("unreadable key file") {
    if (::geteuid() == 0) {
      // root reads any file; use a directory instead, which no one can read as a file.
      const auto d = dir.file("keydir");
      fs::create_directory(d);
      const auto msg = load_error({c.cert_file, d});
      CHECK(contains(msg, "key_file " + d + ": cannot read: Is a directory"));
    } else {
      const auto k = dir.file("locked.key");
      fs::copy_file(c.key_file, k);
      ::chmod(k.c_str(), 0);
      const auto msg = load_error({c.cert_file, k});
      CHECK(contains(msg, "key_file " + k + ": cannot open: Permission denied"));
    }
  }
  SECTION("certificate file without a certificate") {
    const auto bad = dir.file("bad.pem");
    write_text(bad, "hello\n");
    const auto msg = load_error({bad, c.key_file});
    CHECK(contains(msg, "cert_file " + bad + ": no PEM certificate found"));
  }
  SECTION("a truncated chain certificate") {
    const auto bad = dir.file("chain.pem");
    const std::string leaf = read_text(c.cert_file);
    const std::string second = read_text(other.cert_file);
    write_text(bad, leaf + second.substr(0, second.size() / 2));
    const auto msg = load_error({bad, c.key_file});
    CHECK(contains(msg, "cert_file " + bad + ": certificate 2 is malformed"));
  }
  SECTION("a key file that holds no key never echoes its contents") {
    const auto bad = dir.file("bad.key");
    write_text(bad, "SECRET-MATERIAL-0123456789\n");
    const auto msg = load_error({c.cert_file, bad});
    CHECK(contains(msg, "key_file " + bad + ": no unencrypted PEM private key found"));
    CHECK_FALSE(contains(msg, "SECRET-MATERIAL"));
  }
  SECTION("an encrypted key is refused without asking for a passphrase") {
    const auto enc = dir.file("enc.key");
    const auto r = run_command("openssl pkey -in " + sh_quote(c.key_file) + " -aes256 -passout pass:pw -out " +
                               sh_quote(enc));
    REQUIRE(r.exit_code == 0);
    REQUIRE(contains(read_text(enc), "ENCRYPTED"));
    const auto msg = load_error({c.cert_file, enc});
    CHECK(contains(msg, "key_file " + enc + ": no unencrypted PEM private key found"));
  }
  SECTION("a key that does not match the certificate") {
    const auto msg = load_error({c.cert_file, other.key_file});
    CHECK(msg == "key_file " + other.key_file + ": the private key does not match the certificate in cert_file " +
                     c.cert_file);
    // No key bytes in the message.
    const std::string key_pem = read_text(other.key_file);
    const auto b = key_pem.find('\n') + 1;
    CHECK_FALSE(contains(msg, key_pem.substr(b, 16)));
  }
  SECTION("a file over the size bound") {
    const auto big = dir.file("big.pem");
    write_text(big, std::string(k_max_pem_file_bytes + 1, 'A'));
    const auto msg = load_error({big, c.key_file});
    CHECK(contains(msg, "cert_file " + big + ": larger than"));
  }
}

TEST_CASE("reload swaps in new files; old contexts stay usable by their holders", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto first = pki.issue("a", "athm-test-server-1", 1001);
  const auto second = pki.issue("b", "athm-test-server-2", 1002, key_kind::rsa_2048);
  const tls_files live{dir.file("live.pem"), dir.file("live.key")};
  replace_file(live.cert_file, read_text(first.cert_file));
  replace_file(live.key_file, read_text(first.key_file));

  tls_context ctx(live);
  const auto held = ctx.current();  // as an open connection holds it
  CHECK(ctx.current() == held);

  replace_file(live.cert_file, read_text(second.cert_file));
  replace_file(live.key_file, read_text(second.key_file));
  const auto r = ctx.reload();
  REQUIRE(r.ok);
  CHECK(r.error.empty());
  CHECK(r.certificate.subject == "/CN=athm-test-server-2");
  CHECK(r.certificate.serial == "03EA");
  CHECK(ctx.generation() == 2);
  CHECK(ctx.certificate().subject == "/CN=athm-test-server-2");
  CHECK(ctx.current() != held);

  // The old context still holds the old certificate.
  X509* old_leaf = SSL_CTX_get0_certificate(held->native_handle());
  REQUIRE(old_leaf != nullptr);
  char* name = X509_NAME_oneline(X509_get_subject_name(old_leaf), nullptr, 0);
  CHECK(std::string(name) == "/CN=athm-test-server-1");
  OPENSSL_free(name);
}

TEST_CASE("a failed reload keeps the current context and returns the error", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto first = pki.issue("a", "athm-test-server-1", 1001);
  const auto second = pki.issue("b", "athm-test-server-2", 1002);
  const tls_files live{dir.file("live.pem"), dir.file("live.key")};
  replace_file(live.cert_file, read_text(first.cert_file));
  replace_file(live.key_file, read_text(first.key_file));
  tls_context ctx(live);
  const auto before = ctx.current();

  SECTION("new certificate with the old key") {
    replace_file(live.cert_file, read_text(second.cert_file));
    const auto r = ctx.reload();
    CHECK_FALSE(r.ok);
    CHECK(r.error == "key_file " + live.key_file +
                         ": the private key does not match the certificate in cert_file " + live.cert_file);
    CHECK(r.certificate.subject == "/CN=athm-test-server-1");
  }
  SECTION("key file removed") {
    fs::remove(live.key_file);
    const auto r = ctx.reload();
    CHECK_FALSE(r.ok);
    CHECK(contains(r.error, "key_file " + live.key_file + ": cannot open"));
  }
  SECTION("certificate file emptied") {
    replace_file(live.cert_file, "");
    const auto r = ctx.reload();
    CHECK_FALSE(r.ok);
    CHECK(contains(r.error, "cert_file " + live.cert_file + ": no PEM certificate found"));
  }
  CHECK(ctx.current() == before);
  CHECK(ctx.generation() == 1);
  CHECK(ctx.certificate().subject == "/CN=athm-test-server-1");

  // Once the files are consistent again, a reload succeeds.
  replace_file(live.cert_file, read_text(second.cert_file));
  replace_file(live.key_file, read_text(second.key_file));
  const auto r = ctx.reload();
  CHECK(r.ok);
  CHECK(ctx.generation() == 2);
  CHECK(ctx.certificate().subject == "/CN=athm-test-server-2");
}

TEST_CASE("a chain file carries the intermediate after the leaf", "[http][tls]") {
  temp_dir dir;
  test_pki pki(dir);
  const auto c = pki.issue("chained", "athm-test-chained", 55, key_kind::ec_p256, true);
  tls_context ctx({c.cert_file, c.key_file});
  CHECK(ctx.certificate().subject == "/CN=athm-test-chained");
  STACK_OF(X509)* chain = nullptr;
  REQUIRE(SSL_CTX_get0_chain_certs(ctx.current()->native_handle(), &chain) == 1);
  REQUIRE(chain != nullptr);
  REQUIRE(sk_X509_num(chain) == 1);
  char* name = X509_NAME_oneline(X509_get_subject_name(sk_X509_value(chain, 0)), nullptr, 0);
  CHECK(std::string(name) == "/CN=athm test intermediate");
  OPENSSL_free(name);
}

}  // namespace
}  // namespace athm::http::test
