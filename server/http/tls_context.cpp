#include "server/http/tls_context.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <vector>

namespace athm::http {

namespace {

namespace ssl = boost::asio::ssl;

// A byte buffer that wipes itself when destroyed (key file contents).
class wiped_buffer {
 public:
  wiped_buffer() = default;
  wiped_buffer(const wiped_buffer&) = delete;
  wiped_buffer& operator=(const wiped_buffer&) = delete;
  ~wiped_buffer() { wipe(); }
  std::vector<char>& bytes() noexcept { return bytes_; }
  void wipe() noexcept {
    if (!bytes_.empty()) {
      OPENSSL_cleanse(bytes_.data(), bytes_.size());
    }
    bytes_.clear();
  }

 private:
  std::vector<char> bytes_;
};

// Clears BoringSSL's thread-local error queue on scope exit, so that a
// failed load leaves nothing behind for an unrelated later call.
struct error_queue_guard {
  ~error_queue_guard() { ERR_clear_error(); }
};

// " (REASON)" for the most recent BoringSSL error, or "". Reason strings
// are fixed texts such as "NO_START_LINE"; they never carry input bytes.
std::string last_reason() {
  const uint32_t e = ERR_peek_last_error();
  const char* r = e == 0 ? nullptr : ERR_reason_error_string(e);
  ERR_clear_error();
  return r == nullptr ? std::string() : " (" + std::string(r) + ")";
}

bool last_error_is_no_pem() {
  const uint32_t e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

// Reads the whole file into |out|; returns an error message or nothing.
std::optional<std::string> read_file(const std::string& what, const std::string& path,
                                     std::vector<char>& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return what + " " + path + ": cannot open: " + std::strerror(errno);
  }
  out.resize(k_max_pem_file_bytes + 1);
  const std::size_t n = std::fread(out.data(), 1, out.size(), f);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) {
    return what + " " + path + ": cannot read: " + std::strerror(err);
  }
  if (n > k_max_pem_file_bytes) {
    return what + " " + path + ": larger than " + std::to_string(k_max_pem_file_bytes) + " bytes";
  }
  out.resize(n);
  return std::nullopt;
}

// Never asks for a passphrase: encrypted keys are refused.
int no_password(char*, int, int, void*) { return 0; }

// ALPN: the transport speaks HTTP/1.1 only. A client offering it gets it;
// a client offering only other protocols gets no ALPN answer and may
// decide for itself (RFC 7301 3.2 allows the server to ignore the list).
int select_http11(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len, void*) {
  static constexpr char k_http11[] = "http/1.1";
  CBS offered;
  CBS_init(&offered, in, in_len);
  while (CBS_len(&offered) != 0) {
    CBS proto;
    if (CBS_get_u8_length_prefixed(&offered, &proto) != 1) {
      return SSL_TLSEXT_ERR_NOACK;  // malformed list
    }
    if (CBS_len(&proto) == sizeof(k_http11) - 1 &&
        std::memcmp(CBS_data(&proto), k_http11, sizeof(k_http11) - 1) == 0) {
      *out = CBS_data(&proto);
      *out_len = static_cast<uint8_t>(CBS_len(&proto));
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string hex_serial(const X509* x) {
  bssl::UniquePtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
  if (!bn) {
    return "?";
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    return "?";
  }
  std::string out(hex);
  OPENSSL_free(hex);
  for (char& c : out) {
    if (c >= 'a' && c <= 'f') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

tls_certificate_info describe(const X509* x) {
  tls_certificate_info info;
  if (char* name = X509_NAME_oneline(X509_get_subject_name(x), nullptr, 0)) {
    info.subject = name;
    OPENSSL_free(name);
  }
  info.serial = hex_serial(x);
  const ASN1_TIME* t = X509_get0_notAfter(x);
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio && ASN1_TIME_print(bio.get(), t) == 1) {
    const uint8_t* data = nullptr;
    std::size_t len = 0;
    if (BIO_mem_contents(bio.get(), &data, &len) == 1) {
      info.not_after_text.assign(reinterpret_cast<const char*>(data), len);
    }
  }
  int days = 0;
  int seconds = 0;
  const auto now = std::chrono::system_clock::now();
  if (ASN1_TIME_diff(&days, &seconds, nullptr, t) == 1) {
    info.not_after = std::chrono::time_point_cast<std::chrono::seconds>(now) +
                     std::chrono::seconds(static_cast<int64_t>(days) * 86400 + seconds);
  }
  ERR_clear_error();
  return info;
}

struct build_result {
  std::shared_ptr<ssl::context> ctx;
  tls_certificate_info certificate;
  std::string error;
};

build_result build(const tls_files& files) {
  error_queue_guard guard;
  build_result out;
  const std::string cert_name = "cert_file " + files.cert_file;
  const std::string key_name = "key_file " + files.key_file;

  std::vector<char> cert_pem;
  if (auto err = read_file("cert_file", files.cert_file, cert_pem)) {
    out.error = *err;
    return out;
  }
  bssl::UniquePtr<BIO> cert_bio(BIO_new_mem_buf(cert_pem.data(), cert_pem.size()));
  if (!cert_bio) {
    out.error = cert_name + ": out of memory";
    return out;
  }
  bssl::UniquePtr<X509> leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    out.error = cert_name + (last_error_is_no_pem() ? ": no PEM certificate found"
                                                    : ": the first certificate is malformed" + last_reason());
    return out;
  }
  std::vector<bssl::UniquePtr<X509>> chain;
  for (;;) {
    bssl::UniquePtr<X509> c(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (c) {
      chain.push_back(std::move(c));
      continue;
    }
    if (last_error_is_no_pem()) {
      ERR_clear_error();  // end of the file
      break;
    }
    out.error = cert_name + ": certificate " + std::to_string(chain.size() + 2) + " is malformed" + last_reason();
    return out;
  }

  bssl::UniquePtr<EVP_PKEY> key;
  {
    wiped_buffer key_pem;
    if (auto err = read_file("key_file", files.key_file, key_pem.bytes())) {
      out.error = *err;
      return out;
    }
    bssl::UniquePtr<BIO> key_bio(BIO_new_mem_buf(key_pem.bytes().data(), key_pem.bytes().size()));
    if (!key_bio) {
      out.error = key_name + ": out of memory";
      return out;
    }
    key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_password, nullptr));
    if (!key) {
      out.error = key_name + ": no unencrypted PEM private key found" + last_reason();
      return out;
    }
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    out.error = key_name + ": the private key does not match the certificate in " + cert_name;
    return out;
  }

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_strict_cipher_list(h, k_tls12_cipher_list) != 1) {
    out.error = "TLS context set-up failed" + last_reason();
    return out;
  }
  // NO_COMPRESSION and NO_RENEGOTIATION are BoringSSL's fixed behaviour
  // (both are 0 there); kept so the intent survives a change of library.
  SSL_CTX_set_options(h, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_alpn_select_cb(h, select_http11, nullptr);
  if (SSL_CTX_use_certificate(h, leaf.get()) != 1) {
    out.error = cert_name + ": the certificate is not usable" + last_reason();
    return out;
  }
  for (const auto& c : chain) {
    if (SSL_CTX_add1_chain_cert(h, c.get()) != 1) {
      out.error = cert_name + ": a chain certificate is not usable" + last_reason();
      return out;
    }
  }
  if (SSL_CTX_use_PrivateKey(h, key.get()) != 1 || SSL_CTX_check_private_key(h) != 1) {
    out.error = key_name + ": the private key is not usable with the certificate in " + cert_name + last_reason();
    return out;
  }
  out.certificate = describe(leaf.get());
  out.ctx = std::move(ctx);
  return out;
}

build_result build_noexcept(const tls_files& files) noexcept {
  try {
    return build(files);
  } catch (const std::exception& e) {
    ERR_clear_error();
    build_result out;
    out.error = std::string("TLS context set-up failed: ") + e.what();
    return out;
  }
}

}  // namespace

std::string tls_certificate_info::summary() const {
  return "subject " + subject + ", serial " + serial + ", not after " + not_after_text;
}

tls_context::tls_context(tls_files files) : files_(std::move(files)) {
  build_result b = build_noexcept(files_);
  if (!b.ctx) {
    throw tls_error(b.error);
  }
  current_.store(std::make_shared<const loaded>(loaded{std::move(b.ctx), std::move(b.certificate), 1}));
}

std::shared_ptr<ssl::context> tls_context::current() const { return current_.load()->ctx; }

tls_certificate_info tls_context::certificate() const { return current_.load()->certificate; }

std::uint64_t tls_context::generation() const { return current_.load()->generation; }

tls_reload_result tls_context::reload() {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  tls_reload_result r;
  build_result b = build_noexcept(files_);
  const std::shared_ptr<const loaded> old = current_.load();
  if (!b.ctx) {
    r.error = std::move(b.error);
    r.certificate = old->certificate;
    return r;
  }
  auto next = std::make_shared<const loaded>(loaded{std::move(b.ctx), std::move(b.certificate), old->generation + 1});
  r.ok = true;
  r.certificate = next->certificate;
  current_.store(std::move(next));
  return r;
}

}  // namespace athm::http
