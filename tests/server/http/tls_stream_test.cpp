#include "server/http/tls_stream.h"

#include <catch2/catch.hpp>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <thread>

#include "tests/server/http/tls_test_support.h"

using namespace athm::http;
using namespace athm::http::test;

namespace {

// A server tls_stream and a client ssl::stream, connected over loopback and
// handshaken, all on one io_context driven by the test.
struct tls_pair {
  temp_dir dir;
  test_pki pki{dir};
  issued_cert cert = pki.issue("server", "athm-test-server", 2001);
  net::io_context ioc;
  std::shared_ptr<ssl::context> server_ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ssl::context client_ctx{ssl::context::tls_client};
  tcp::socket client_socket{ioc};
  std::optional<tls_stream> server;
  std::optional<ssl::stream<tcp::socket&>> client;

  tls_pair() {
    server_ctx->use_certificate_chain_file(cert.cert_file);
    server_ctx->use_private_key_file(cert.key_file, ssl::context::pem);
    client_ctx.load_verify_file(pki.ca_file());
    client_ctx.set_verify_mode(ssl::verify_peer);
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client_socket.connect(acceptor.local_endpoint());
    server.emplace(acceptor.accept(), server_ctx);
    client.emplace(client_socket, client_ctx);
    boost::system::error_code server_ec = net::error::would_block;
    boost::system::error_code client_ec = net::error::would_block;
    server->async_handshake(ssl::stream_base::server, [&](boost::system::error_code ec) { server_ec = ec; });
    client->async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) { client_ec = ec; });
    run();
    REQUIRE_FALSE(server_ec);
    REQUIRE_FALSE(client_ec);
  }

  void run() {
    ioc.restart();
    ioc.run_for(std::chrono::seconds(10));
  }
};

}  // namespace

TEST_CASE("tls_stream: records both ways, then the peer's close_notify is eof", "[http][tls]") {
  tls_pair p;
  std::string out = "hello over tls";
  boost::system::error_code ec = net::error::would_block;
  std::size_t n = 0;
  net::async_write(*p.client, net::buffer(out), [&](boost::system::error_code e, std::size_t) { ec = e; });
  p.run();
  REQUIRE_FALSE(ec);

  char in[64] = {};
  p.server->async_read_some(net::buffer(in), [&](boost::system::error_code e, std::size_t k) {
    ec = e;
    n = k;
  });
  p.run();
  REQUIRE_FALSE(ec);
  CHECK(std::string(in, n) == out);

  // Several buffers go out as one write of their concatenation.
  std::array<net::const_buffer, 2> parts{net::buffer("ab", 2), net::buffer("cd", 2)};
  p.server->async_write_some(parts, [&](boost::system::error_code e, std::size_t k) {
    ec = e;
    n = k;
  });
  p.run();
  REQUIRE_FALSE(ec);
  CHECK(n == 4);
  char back[8] = {};
  net::async_read(*p.client, net::buffer(back, 4), [&](boost::system::error_code e, std::size_t) { ec = e; });
  p.run();
  REQUIRE_FALSE(ec);
  CHECK(std::string(back, 4) == "abcd");

  p.client->async_shutdown([](boost::system::error_code) {});
  p.server->async_read_some(net::buffer(in), [&](boost::system::error_code e, std::size_t) { ec = e; });
  p.run();
  CHECK(ec == net::error::eof);
}

TEST_CASE("tls_stream: the end of TCP without close_notify is stream_truncated", "[http][tls]") {
  tls_pair p;
  p.client_socket.shutdown(tcp::socket::shutdown_send);
  boost::system::error_code ec = net::error::would_block;
  char in[8];
  p.server->async_read_some(net::buffer(in), [&](boost::system::error_code e, std::size_t) { ec = e; });
  p.run();
  CHECK(ec == ssl::error::stream_truncated);
}

TEST_CASE("tls_stream: writes to a reset connection fail without SIGPIPE", "[http][tls]") {
  // The default disposition: a write(2) to the reset socket would end the
  // test process here.
  const auto previous = std::signal(SIGPIPE, SIG_DFL);
  {
    tls_pair p;
    p.client_socket.set_option(net::socket_base::linger(true, 0));
    p.client_socket.close();  // sends a reset
    boost::system::error_code ec;
    char in[8];
    p.server->async_read_some(net::buffer(in), [&](boost::system::error_code e, std::size_t) { ec = e; });
    p.run();
    CHECK(ec);  // the reset, read (and consumed) first
    for (int i = 0; i < 3; ++i) {
      ec = {};
      p.server->async_write_some(net::buffer("x", 1), [&](boost::system::error_code e, std::size_t) { ec = e; });
      p.run();
      CHECK(ec);
    }
  }
  std::signal(SIGPIPE, previous);
}

TEST_CASE("tls_stream: a handler never runs inside the initiating call", "[http][tls]") {
  tls_pair p;
  bool done = false;
  p.server->async_write_some(net::buffer("y", 1), [&](boost::system::error_code, std::size_t) { done = true; });
  CHECK_FALSE(done);  // the write completed at once, but its handler waits for the executor
  p.run();
  CHECK(done);
  bool empty_done = false;
  p.server->async_read_some(net::mutable_buffer(), [&](boost::system::error_code e, std::size_t n) {
    empty_done = !e && n == 0;
  });
  CHECK_FALSE(empty_done);
  p.run();
  CHECK(empty_done);
}

TEST_CASE("tls_stream: operations on a closed socket fail without touching it", "[http][tls]") {
  tls_pair p;
  tcp::acceptor acceptor(p.ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const int old_fd = p.server->lowest_layer().native_handle();
  p.server->lowest_layer().close();
  // A new connection takes the freed descriptor number.
  tcp::socket reused(p.ioc);
  reused.connect(acceptor.local_endpoint());
  tcp::socket peer = acceptor.accept();
  REQUIRE(reused.native_handle() == old_fd);
  reused.non_blocking(true);  // a regression then fails below instead of hanging in recv

  boost::system::error_code read_ec;
  boost::system::error_code write_ec;
  char in[8];
  p.server->async_read_some(net::buffer(in), [&](boost::system::error_code e, std::size_t) { read_ec = e; });
  p.server->async_write_some(net::buffer("z", 1), [&](boost::system::error_code e, std::size_t) { write_ec = e; });
  p.run();
  CHECK(read_ec == net::error::bad_descriptor);
  CHECK(write_ec == net::error::bad_descriptor);
  // Nothing went out on the connection that now owns the number.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(peer.available() == 0);
}
