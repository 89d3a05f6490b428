// Test helpers for HTTPS: a throwaway PKI made with the openssl command line
// in a temporary directory, a runner for command-line clients (curl,
// openssl s_client), and a blocking Asio/BoringSSL client with timeouts.
// Everything talks to 127.0.0.1 only.
#pragma once

#include <utility>

#include "server/http/tls_context.h"
#include "tests/server/http/test_support.h"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace athm::http::test {

namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "athm-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct command_result {
  int exit_code = -1;  // -1: did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs |cmd| with /bin/sh, capturing stdout and stderr.
inline command_result run_command(const std::string& cmd) {
  command_result r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  const int status = ::pclose(p);
  if (status != -1 && WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  }
  return r;
}

// Single-quotes |s| for /bin/sh.
inline std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

// Replaces |dst| the way a deployment tool does: write a sibling, rename.
inline void replace_file(const std::string& dst, const std::string& text) {
  write_text(dst + ".new", text);
  fs::rename(dst + ".new", dst);
}

enum class key_kind { ec_p256, rsa_2048 };

// A certificate and its key, as files.
struct issued_cert {
  std::string cert_file;  // leaf first, then any intermediate
  std::string key_file;
  std::string subject_cn;
};

// A root CA (and an intermediate under it) made with the openssl CLI.
// Server certificates are for 127.0.0.1 and localhost.
class test_pki {
 public:
  explicit test_pki(const temp_dir& dir) : dir_(dir) {
    ca_file_ = dir_.file("ca.pem");
    ca_key_ = dir_.file("ca.key");
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj " +
            sh_quote("/CN=athm test root") + " -keyout " + sh_quote(ca_key_) + " -out " + sh_quote(ca_file_));
    write_text(dir_.file("int.ext"),
               "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
    write_text(dir_.file("leaf.ext"),
               "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
               "extendedKeyUsage=serverAuth\n");
    int_file_ = dir_.file("int.pem");
    int_key_ = dir_.file("int.key");
    sign("int", "/CN=athm test intermediate", key_kind::ec_p256, 7, ca_file_, ca_key_, "int.ext");
  }

  // The root certificate clients trust.
  const std::string& ca_file() const { return ca_file_; }

  // Issues <name>.pem / <name>.key for CN=|cn| with serial |serial|. With
  // |via_intermediate| the intermediate signs it and <name>.pem holds the
  // chain (leaf, intermediate).
  issued_cert issue(const std::string& name, const std::string& cn, unsigned serial,
                    key_kind kind = key_kind::ec_p256, bool via_intermediate = false) {
    if (via_intermediate) {
      sign(name, "/CN=" + cn, kind, serial, int_file_, int_key_, "leaf.ext");
      write_text(dir_.file(name + ".pem"), read_text(dir_.file(name + ".pem")) + read_text(int_file_));
    } else {
      sign(name, "/CN=" + cn, kind, serial, ca_file_, ca_key_, "leaf.ext");
    }
    return {dir_.file(name + ".pem"), dir_.file(name + ".key"), cn};
  }

 private:
  static void openssl(const std::string& args) {
    const auto r = run_command("openssl " + args);
    if (r.exit_code != 0) {
      throw std::runtime_error("openssl " + args + " failed: " + r.output);
    }
  }

  void sign(const std::string& name, const std::string& subject, key_kind kind, unsigned serial,
            const std::string& ca, const std::string& ca_key, const std::string& ext) {
    const std::string key = dir_.file(name + ".key");
    const std::string csr = dir_.file(name + ".csr");
    const std::string newkey =
        kind == key_kind::rsa_2048 ? "-newkey rsa:2048" : "-newkey ec -pkeyopt ec_paramgen_curve:P-256";
    openssl("req " + newkey + " -nodes -subj " + sh_quote(subject) + " -keyout " + sh_quote(key) + " -out " +
            sh_quote(csr));
    openssl("x509 -req -days 2 -in " + sh_quote(csr) + " -CA " + sh_quote(ca) + " -CAkey " + sh_quote(ca_key) +
            " -set_serial " + std::to_string(serial) + " -extfile " + sh_quote(dir_.file(ext)) + " -out " +
            sh_quote(dir_.file(name + ".pem")));
  }

  const temp_dir& dir_;
  std::string ca_file_;
  std::string ca_key_;
  std::string int_file_;
  std::string int_key_;
};

// curl against 127.0.0.1:|port|, ignoring ~/.curlrc and proxies, bounded
// in time. |args| come first (options), then the URL(s).
inline command_result curl(const std::string& args, const std::string& urls) {
  return run_command("curl -q -sS --noproxy '*' --max-time 15 " + args + " " + urls);
}

inline std::string https_url(std::uint16_t port, const std::string& path = "/") {
  return "https://127.0.0.1:" + std::to_string(port) + path;
}

// The subject line openssl s_client prints for the server's leaf
// certificate, e.g. "CN = athm-test-server-2", or "" on failure.
inline std::string s_client_leaf_subject(std::uint16_t port, const std::string& ca_file) {
  const auto r = run_command("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                             " -CAfile " + sh_quote(ca_file) + " -verify_return_error -showcerts < /dev/null");
  if (r.exit_code != 0) {
    return "";
  }
  // -showcerts lists " 0 s:<subject>" for the leaf.
  const auto p = r.output.find(" 0 s:");
  if (p == std::string::npos) {
    return "";
  }
  const auto e = r.output.find('\n', p);
  return r.output.substr(p + 5, e == std::string::npos ? std::string::npos : e - p - 5);
}

// A blocking HTTPS client on BoringSSL: connects to 127.0.0.1:|port| and
// handshakes, each step bounded by a timeout.
class tls_client {
 public:
  struct options {
    std::string ca_file;                  // trusted roots; empty: verify nothing
    int min_version = TLS1_2_VERSION;
    int max_version = TLS1_3_VERSION;
    std::string cipher_list;              // TLS 1.2 suites; empty: defaults
    std::vector<std::string> alpn;        // protocols offered; empty: no ALPN
  };

  // Options that trust |ca_file| and allow TLS 1.2 and 1.3.
  static options trusting(const std::string& ca_file) {
    options o;
    o.ca_file = ca_file;
    return o;
  }

  tls_client(std::uint16_t port, const options& opt, ms timeout = 3000ms)
      : ctx_(ssl::context::tls_client), stream_(ioc_, configure(ctx_, opt)) {
    connect_ec_ = run(
        [&](auto done) {
          stream_.next_layer().async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                             [done](boost::system::error_code ec) { done(ec); });
        },
        timeout);
    if (connect_ec_) {
      handshake_ec_ = connect_ec_;
      return;
    }
    handshake_ec_ = run(
        [&](auto done) {
          stream_.async_handshake(ssl::stream_base::client, [done](boost::system::error_code ec) { done(ec); });
        },
        timeout);
  }

  bool connected() const { return !connect_ec_; }
  bool handshaken() const { return !handshake_ec_; }
  boost::system::error_code handshake_error() const { return handshake_ec_; }
  boost::system::error_code last_error() const { return ec_; }

  bool send(std::string_view bytes, ms timeout = 3000ms) {
    ec_ = run(
        [&](auto done) {
          net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                           [done](boost::system::error_code ec, std::size_t) { done(ec); });
        },
        timeout);
    return !ec_;
  }

  std::optional<client_response> read(ms timeout = 3000ms) {
    bh::response_parser<bh::string_body> parser;
    ec_ = run(
        [&](auto done) {
          bh::async_read(stream_, buffer_, parser, [done](boost::system::error_code ec, std::size_t) { done(ec); });
        },
        timeout);
    if (ec_) {
      return std::nullopt;
    }
    return parser.release();
  }

  // Reads until the connection ends; returns how it ended: asio eof for a
  // close_notify, ssl::error::stream_truncated for TCP closed without one,
  // timed_out if nothing happened within |timeout|.
  boost::system::error_code read_end(ms timeout = 3000ms) {
    char byte = 0;
    std::size_t got = 0;
    ec_ = run(
        [&](auto done) {
          stream_.async_read_some(net::buffer(&byte, 1), [done, &got](boost::system::error_code ec, std::size_t n) {
            got = n;
            done(ec);
          });
        },
        timeout);
    if (!ec_ && got != 0) {
      return net::error::message_size;  // unexpected data
    }
    return ec_;
  }

  // The leaf certificate the server sent, as "/CN=..."; "" if none.
  std::string peer_subject() {
    X509* x = SSL_get_peer_certificate(stream_.native_handle());
    if (x == nullptr) {
      return "";
    }
    std::string out;
    if (char* name = X509_NAME_oneline(X509_get_subject_name(x), nullptr, 0)) {
      out = name;
      OPENSSL_free(name);
    }
    X509_free(x);
    return out;
  }
  std::string version() { return SSL_get_version(stream_.native_handle()); }
  // The protocol the server selected by ALPN; "" if none.
  std::string alpn() {
    const uint8_t* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &p, &len);
    return std::string(reinterpret_cast<const char*>(p), len);
  }
  std::string cipher() {
    const SSL_CIPHER* c = SSL_get_current_cipher(stream_.native_handle());
    return c == nullptr ? "" : SSL_CIPHER_get_name(c);
  }

  void close() {
    boost::system::error_code ec;
    stream_.lowest_layer().close(ec);
  }
  // Ends the TCP send side without a close_notify (a truncated stream).
  void shutdown_tcp_send() {
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_send, ec);
  }

 private:
  static ssl::context& configure(ssl::context& ctx, const options& opt) {
    SSL_CTX* h = ctx.native_handle();
    SSL_CTX_set_min_proto_version(h, static_cast<uint16_t>(opt.min_version));
    SSL_CTX_set_max_proto_version(h, static_cast<uint16_t>(opt.max_version));
    if (!opt.cipher_list.empty()) {
      SSL_CTX_set_strict_cipher_list(h, opt.cipher_list.c_str());
    }
    if (!opt.alpn.empty()) {
      std::string wire;
      for (const auto& p : opt.alpn) {
        wire += static_cast<char>(p.size());
        wire += p;
      }
      SSL_CTX_set_alpn_protos(h, reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
    }
    if (!opt.ca_file.empty()) {
      ctx.load_verify_file(opt.ca_file);
      ctx.set_verify_mode(ssl::verify_peer);
    } else {
      ctx.set_verify_mode(ssl::verify_none);
    }
    return ctx;
  }

  template <class Start>
  boost::system::error_code run(Start start, ms timeout) {
    ioc_.restart();
    bool done = false;
    boost::system::error_code result;
    start([&done, &result](boost::system::error_code ec) {
      done = true;
      result = ec;
    });
    ioc_.run_for(timeout);
    if (!done) {
      boost::system::error_code ignored;
      stream_.lowest_layer().cancel(ignored);
      ioc_.restart();
      ioc_.run();
      return net::error::timed_out;
    }
    return result;
  }

  net::io_context ioc_;
  ssl::context ctx_;
  ssl::stream<tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code connect_ec_;
  boost::system::error_code handshake_ec_;
  boost::system::error_code ec_;
};

}  // namespace athm::http::test
