#include "server/http/session.h"

#include "tests/server/http/test_support.h"

#include <boost/beast/http/rfc7230.hpp>

#include <catch2/catch.hpp>

namespace athm::http::test {
namespace {

bool has_close(const client_response& res) {
  return bh::token_list{res[bh::field::connection]}.exists("close");
}

TEST_CASE("keep-alive: several requests on one connection", "[http][session]") {
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  for (int i = 0; i < 5; ++i) {
    const std::string body = "body-" + std::to_string(i);
    REQUIRE(c.send(post("/echo?i=" + std::to_string(i), body)));
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->result() == bh::status::ok);
    CHECK(res->version() == 11);
    CHECK(res->body() == "POST /echo?i=" + std::to_string(i) + "\n" + body);
    CHECK(sv((*res)[bh::field::server]) == "athmd");
    CHECK(sv((*res)[bh::field::content_length]) == std::to_string(res->body().size()));
    CHECK_FALSE(has_close(*res));
    CHECK(sv((*res)["X-Listener"]) == "public");
    CHECK(sv((*res)["X-Remote"]) == "127.0.0.1");
  }
  CHECK(echo->calls == 5);
  CHECK(f.srv->active_connections() == 1);
}

TEST_CASE("pipelined requests are answered in request order", "[http][session]") {
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  // Handlers complete out of order, from other threads.
  const int delays[] = {300, 0, 150, 0, 50};
  std::string batch;
  for (int i = 0; i < 5; ++i) {
    batch += get("/p" + std::to_string(i) + "?delay=" + std::to_string(delays[i]));
  }
  REQUIRE(c.send(batch));
  for (int i = 0; i < 5; ++i) {
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->result() == bh::status::ok);
    CHECK(res->body() == "/p" + std::to_string(i) + "?delay=" + std::to_string(delays[i]));
  }
}

TEST_CASE("a long pipeline over the cap is served completely and in order", "[http][session]") {
  limits lim = test_limits();
  lim.max_pipelined = 4;
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  std::string batch;
  for (int i = 0; i < 40; ++i) {
    batch += get("/q" + std::to_string(i) + "?delay=" + std::to_string((i * 7) % 5));
  }
  REQUIRE(c.send(batch));
  for (int i = 0; i < 40; ++i) {
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->body() == "/q" + std::to_string(i) + "?delay=" + std::to_string((i * 7) % 5));
  }
}

TEST_CASE("reading stops while max_pipelined responses are pending", "[http][session]") {
  limits lim = test_limits();
  lim.max_pipelined = 3;
  auto gate = std::make_shared<gate_handler>();
  fixture f;
  f.listen(gate, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += get("/g" + std::to_string(i));
  }
  REQUIRE(c.send(batch));
  REQUIRE(gate->wait_calls(3, 2000ms));
  // Give the session every chance to read further; it must not.
  std::this_thread::sleep_for(200ms);
  CHECK(gate->calls() == 3);
  CHECK(f.srv->in_flight() == 3);

  // Completing (in reverse order) frees the slots; the rest follow.
  for (int round = 0; round < 20 && gate->calls() < 10; ++round) {
    const std::size_t before = gate->calls();
    gate->release_all();
    gate->wait_calls(before + 1, 1000ms);
  }
  gate->release_all();
  CHECK(gate->calls() == 10);
  CHECK(gate->max_held() == 3);
  for (int i = 0; i < 10; ++i) {
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->body() == "/g" + std::to_string(i));
  }
}

TEST_CASE("Content-Length over the body limit gets 413 before the body is sent", "[http][session]") {
  limits lim = test_limits();
  lim.max_body_bytes = 1024;
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  // Header only; the body is never sent.
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::payload_too_large);
  CHECK(has_close(*res));
  CHECK(c.closed_within(2000ms));
  CHECK(echo->calls == 0);
}

TEST_CASE("a body at the limit is accepted", "[http][session]") {
  limits lim = test_limits();
  lim.max_body_bytes = 1024;
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.send(post("/echo", std::string(1024, 'x'))));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::ok);
  CHECK(res->body().size() == std::string("POST /echo\n").size() + 1024);
}

TEST_CASE("a chunked body over the limit gets 413", "[http][session]") {
  limits lim = test_limits();
  lim.max_body_bytes = 1024;
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  std::string req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    req += "200\r\n" + std::string(0x200, 'a') + "\r\n";  // 3 x 512 bytes
  }
  req += "0\r\n\r\n";
  REQUIRE(c.send(req));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::payload_too_large);
  CHECK(has_close(*res));
  CHECK(echo->calls == 0);
}

TEST_CASE("a chunked body within the limit is delivered decoded", "[http][session]") {
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo);
  f.start();
  client c(f.port);
  REQUIRE(c.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->body() == "POST /c\nabcde");
  CHECK(sv((*res)[bh::field::content_length]) == std::to_string(res->body().size()));
}

TEST_CASE("a header flood gets 431 and the connection closes", "[http][session]") {
  limits lim = test_limits();
  lim.max_header_bytes = 4096;
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  std::string req = "GET /echo HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 200; ++i) {
    req += "X-Flood-" + std::to_string(i) + ": " + std::string(60, 'f') + "\r\n";
  }
  req += "\r\n";
  REQUIRE(req.size() > 3 * 4096);
  REQUIRE(c.send(req));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::request_header_fields_too_large);
  CHECK(has_close(*res));
  CHECK(c.closed_within(2000ms));
  CHECK(echo->calls == 0);
}

TEST_CASE("malformed requests get 400 and the connection closes", "[http][session]") {
  const char* garbage[] = {
      "this is not http\r\n\r\n",
      "GET /x HTTP/1\r\nHost: t\r\n\r\n",
      "GET /x HTTP/1.1\r\nBad Header Name: v\r\n\r\n",
      "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
      "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET /x HTTP/1.1\r\n\r\n",                          // no Host
      "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
  };
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo);
  f.start();
  for (const char* g : garbage) {
    INFO(g);
    client c(f.port);
    REQUIRE(c.connected());
    REQUIRE(c.send(g));
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->result() == bh::status::bad_request);
    CHECK(has_close(*res));
    CHECK(c.closed_within(2000ms));
  }
  CHECK(echo->calls == 0);
}

TEST_CASE("garbage after a good pipelined request: answer it, then 400", "[http][session]") {
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo);
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/ok") + "garbage garbage\r\n\r\n"));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::ok);
  CHECK(res->body() == "GET /ok\n");
  res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::bad_request);
  CHECK(c.closed_within(2000ms));
}

TEST_CASE("read timeout cuts off a slow sender", "[http][session]") {
  limits lim = test_limits();
  lim.read_timeout = 200ms;
  lim.idle_timeout = 10'000ms;  // must not be what fires
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  // One byte every 20 ms, never finishing the header. Every byte arrives
  // well within any per-read timeout; only the whole-request bound stops it.
  const std::string slow = "GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(400, 's');
  const auto start = std::chrono::steady_clock::now();
  bool cut = false;
  for (char ch : slow) {
    if (!c.send(std::string_view(&ch, 1), 500ms)) {
      cut = true;
      break;
    }
    if (c.closed_within(20ms)) {
      cut = true;
      break;
    }
    if (std::chrono::steady_clock::now() - start > 3000ms) {
      break;
    }
  }
  CHECK(cut);
  CHECK(std::chrono::steady_clock::now() - start < 3000ms);
  CHECK(echo->calls == 0);
  CHECK(eventually([&] { return f.srv->active_connections() == 0; }));
}

TEST_CASE("idle timeout closes an idle keep-alive connection", "[http][session]") {
  limits lim = test_limits();
  lim.idle_timeout = 200ms;
  lim.read_timeout = 10'000ms;
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();

  client c(f.port);
  REQUIRE(c.send(get("/a")));
  auto res = c.read();
  REQUIRE(res);
  CHECK_FALSE(has_close(*res));
  CHECK(c.closed_within(3000ms));
  CHECK(eventually([&] { return f.srv->active_connections() == 0; }));

  // A connection that never sends anything is idle too.
  client silent(f.port);
  REQUIRE(silent.connected());
  CHECK(silent.closed_within(3000ms));
}

TEST_CASE("idle timeout does not fire while a response is owed", "[http][session]") {
  limits lim = test_limits();
  lim.idle_timeout = 100ms;
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/slow?delay=500")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->body() == "/slow?delay=500");
}

TEST_CASE("write timeout closes a connection whose peer does not read", "[http][session]") {
  // A big response to a client that never reads fills both socket buffers.
  class big_handler final : public handler {
   public:
    void handle(request, const request_context&, respond done) noexcept override {
      ++calls;
      response res{bh::status::ok, 11};
      res.body().assign(64 * 1024 * 1024, 'b');
      done(std::move(res));
    }
    std::atomic<int> calls{0};
  };
  limits lim = test_limits();
  lim.write_timeout = 200ms;
  auto big = std::make_shared<big_handler>();
  fixture f;
  f.listen(big, lim);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());
  c.socket().set_option(net::socket_base::receive_buffer_size(4096));
  REQUIRE(c.send(get("/big")));
  REQUIRE(eventually([&] { return big->calls == 1; }));
  CHECK(f.srv->active_connections() == 1);  // accepted, writing, not read by us
  CHECK(eventually([&] { return f.srv->active_connections() == 0; }, 5000ms));
}

TEST_CASE("Connection: close is honoured", "[http][session]") {
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo);
  f.start();
  client c(f.port);
  // The pipelined request after the close must not be served.
  REQUIRE(c.send(get("/a", "Connection: close\r\n") + get("/b")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->body() == "GET /a\n");
  CHECK(has_close(*res));
  CHECK(c.closed_within(2000ms));
  CHECK(echo->calls == 1);
}

TEST_CASE("HTTP/1.0 closes unless keep-alive is asked for", "[http][session]") {
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo);
  f.start();
  {
    client c(f.port);
    REQUIRE(c.send("GET /old HTTP/1.0\r\n\r\n"));
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->body() == "GET /old\n");
    CHECK(has_close(*res));
    CHECK(c.closed_within(2000ms));
  }
  {
    client c(f.port);
    for (int i = 0; i < 2; ++i) {
      REQUIRE(c.send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto res = c.read();
      REQUIRE(res);
      CHECK(res->body() == "GET /ka\n");
      CHECK(bh::token_list{(*res)[bh::field::connection]}.exists("keep-alive"));
      CHECK(sv((*res)[bh::field::content_length]) == std::to_string(res->body().size()));
    }
  }
}

TEST_CASE("a handler can close the connection", "[http][session]") {
  class closing_handler final : public handler {
   public:
    void handle(request, const request_context&, respond done) noexcept override {
      response res{bh::status::ok, 11};
      res.set(bh::field::connection, "close");
      res.body() = "bye";
      done(std::move(res));
    }
  };
  fixture f;
  f.listen(std::make_shared<closing_handler>());
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/x")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->body() == "bye");
  CHECK(has_close(*res));
  CHECK(c.closed_within(2000ms));
}

TEST_CASE("responses to a half-closed client are still delivered", "[http][session]") {
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h);
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/h1?delay=100") + get("/h2")));
  c.socket().shutdown(tcp::socket::shutdown_send);
  for (const char* want : {"/h1?delay=100", "/h2"}) {
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->body() == want);
  }
  CHECK(c.closed_within(2000ms));
}

TEST_CASE("the access log hook sees each completed request", "[http][session]") {
  std::mutex mu;
  std::vector<std::string> lines;
  access_log_hook hook = [&](const access_entry& e) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(std::string(e.listener) + " " + std::string(e.method) + " " + std::string(e.path) + " " +
                    std::to_string(e.status) + " " + e.remote_address.to_string() + " " +
                    (e.bytes_sent > 0 ? "bytes" : "nobytes") + " " + (e.duration.count() >= 0 ? "dur" : "neg"));
  };
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, test_limits(), hook);
  f.start();
  client c(f.port);
  REQUIRE(c.send(post("/issue?secret=1", "tok")));
  REQUIRE(c.read());
  REQUIRE(c.send("nonsense\r\n\r\n"));
  REQUIRE(c.read());
  REQUIRE(c.closed_within(2000ms));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return lines.size() == 2;
  }));
  std::lock_guard<std::mutex> lock(mu);
  CHECK(lines[0] == "public POST /issue 200 127.0.0.1 bytes dur");
  CHECK(lines[1] == "public - - 400 127.0.0.1 bytes dur");
}

TEST_CASE("non-final and body-less statuses are normalised", "[http][session]") {
  class status_handler final : public handler {
   public:
    void handle(request req, const request_context&, respond done) noexcept override {
      const std::string t = sv(req.target());
      response res{t == "/204" ? bh::status::no_content : bh::status::continue_, 11};
      res.body() = "should not be sent";
      done(std::move(res));
    }
  };
  fixture f;
  f.listen(std::make_shared<status_handler>());
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/204")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::no_content);
  CHECK(res->body().empty());
  CHECK(res->count(bh::field::content_length) == 0);
  REQUIRE(c.send(get("/100")));
  res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::internal_server_error);
}

}  // namespace
}  // namespace athm::http::test
