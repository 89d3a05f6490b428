// The server side of TLS: a BoringSSL context built from a certificate
// chain and a private key in PEM files, replaceable at run time without
// touching open connections.
//
// Every context it builds:
//   - speaks TLS 1.2 and TLS 1.3 only;
//   - offers, for TLS 1.2, only ECDHE key exchange with AES-GCM or
//     ChaCha20-Poly1305 (k_tls12_cipher_list); TLS 1.3 suites are fixed by
//     BoringSSL and all AEAD;
//   - picks the cipher by server preference;
//   - has no compression and no renegotiation (BoringSSL servers support
//     neither; the options are set anyway to state the intent);
//   - keeps BoringSSL's session tickets and session cache (a new context
//     has new ticket keys, so sessions do not resume across a reload);
//   - answers ALPN with "http/1.1" when the client offers it, and with
//     nothing otherwise (the transport speaks HTTP/1.1 only).
//
//   auto tls = std::make_shared<athm::http::tls_context>(
//       athm::http::tls_files{"/etc/athmd/tls/chain.pem", "/etc/athmd/tls/key.pem"});
//   srv.add_listener(opts, athm::http::tls_session_factory(tls));
//   ...
//   on SIGHUP: if (auto r = tls->reload(); !r.ok) { log r.error; }  // old cert stays
//
// Key material: the key file is read into a buffer that is wiped after
// parsing, and no message this module produces contains file contents.
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace athm::http {

// TLS 1.2 suites, most preferred first (OpenSSL names as BoringSSL spells
// them). Forward secret, AEAD only.
inline constexpr const char* k_tls12_cipher_list =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

// A PEM file larger than this is refused unread (a chain is a few KiB).
inline constexpr std::size_t k_max_pem_file_bytes = 1024 * 1024;

// Where a context's certificate and key come from. Paths are used as given
// (relative ones against the current directory).
struct tls_files {
  std::string cert_file;  // PEM: the leaf certificate first, then intermediates
  std::string key_file;   // PEM: the leaf's private key, not encrypted
};

// Thrown by the tls_context constructor (start-up only). The message names
// the file and the problem, e.g. "key_file /etc/k.pem: the private key does
// not match the certificate in cert_file /etc/c.pem"; never file contents.
// Callers may prefix the config path ("listeners.public.tls.").
class tls_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Public facts about the leaf certificate of a context; log-safe.
struct tls_certificate_info {
  std::string subject;  // one-line distinguished name, e.g. "/CN=issuer.example"
  std::string serial;   // upper-case hex, e.g. "03E9"
  std::string not_after_text;  // e.g. "Nov 24 11:00:00 2026 GMT"
  std::chrono::system_clock::time_point not_after;  // to the second
  // "subject /CN=..., serial 03E9, not after Nov 24 11:00:00 2026 GMT"
  std::string summary() const;
};

struct tls_reload_result {
  bool ok = false;    // the new context serves every later handshake
  std::string error;  // when !ok: log-safe, names the file; the old context stays
  tls_certificate_info certificate;  // of the context current after the call
};

// Handshake statistics of the listeners that use a context. Relaxed
// atomics: for metrics only.
struct tls_counters {
  std::atomic<std::uint64_t> handshakes_completed{0};
  // Handshakes the peer failed: protocol errors (bad version, no common
  // cipher, untrusted certificate alert, plaintext sent to a TLS port) and
  // timeouts. Not connections closed by a shutdown mid-handshake.
  std::atomic<std::uint64_t> handshakes_failed{0};
  std::atomic<std::uint64_t> handshake_timeouts{0};  // included in handshakes_failed
};

class tls_context {
 public:
  // Reads and checks |files| and builds the first context. Throws tls_error
  // naming the file when a file cannot be read, holds no PEM certificate or
  // no unencrypted PEM private key, a chain certificate is malformed, or the
  // key does not match the leaf certificate.
  explicit tls_context(tls_files files);
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  // The newest context, for a new handshake. The caller shares ownership,
  // so a connection keeps the context it started with across reloads.
  // Thread-safe; never null.
  std::shared_ptr<boost::asio::ssl::context> current() const;

  // Re-reads the files given at construction and, if every check passes,
  // makes the new context current; handshakes already started and open
  // connections keep the old one. On failure nothing changes and the error
  // is returned as a value. Thread-safe: reloads are serialised, and
  // current() never blocks on one.
  tls_reload_result reload();

  // The certificate of the current context. Thread-safe.
  tls_certificate_info certificate() const;
  // 1 after construction; +1 for each successful reload. Thread-safe.
  std::uint64_t generation() const;

  const tls_files& files() const noexcept { return files_; }

  // Updated by tls_session_factory; readable from any thread.
  tls_counters& counters() noexcept { return counters_; }
  const tls_counters& counters() const noexcept { return counters_; }

 private:
  struct loaded {
    std::shared_ptr<boost::asio::ssl::context> ctx;
    tls_certificate_info certificate;
    std::uint64_t generation = 0;
  };

  const tls_files files_;
  std::mutex reload_mutex_;  // serialises reload(); current_ is read without it
  std::atomic<std::shared_ptr<const loaded>> current_;
  tls_counters counters_;
};

}  // namespace athm::http
