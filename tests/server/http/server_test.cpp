#include "server/http/server.h"

#include "tests/server/http/test_support.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <catch2/catch.hpp>

#include <future>

namespace athm::http::test {
namespace {

bool has_close(const client_response& res) {
  return bh::token_list{res[bh::field::connection]}.exists("close");
}

// Records the outcome of a shutdown and when it came.
struct done_probe {
  std::promise<shutdown_outcome> promise;
  std::future<shutdown_outcome> future = promise.get_future();
  std::function<void(shutdown_outcome)> callback() {
    return [this](shutdown_outcome o) { promise.set_value(o); };
  }
  bool ready_within(ms timeout) { return future.wait_for(timeout) == std::future_status::ready; }
};

TEST_CASE("listener binds an ephemeral port and reports it", "[http][server]") {
  fixture f;
  const auto p = f.listen(std::make_shared<echo_handler>());
  CHECK(p != 0);
  CHECK(f.srv->find_listener("public")->port() == p);
  CHECK(f.srv->find_listener("nope") == nullptr);
  CHECK(f.srv->io_threads() == 2);
  CHECK_THROWS_AS(f.listen(std::make_shared<echo_handler>()), std::invalid_argument);  // duplicate name
  limits bad = test_limits();
  bad.max_pipelined = 0;
  CHECK_THROWS_AS(f.listen(std::make_shared<echo_handler>(), bad, {}, "other"), std::invalid_argument);
  CHECK_THROWS_AS(f.listen(nullptr, test_limits(), {}, "other"), std::invalid_argument);
}

TEST_CASE("binding a port in use fails at start-up", "[http][server]") {
  fixture f;
  const auto p = f.listen(std::make_shared<echo_handler>());
  server other(1);
  CHECK_THROWS_AS(other.add_listener({"public", tcp::endpoint(net::ip::make_address("127.0.0.1"), p), test_limits(),
                                      std::make_shared<echo_handler>(), {}}),
                  boost::system::system_error);
}

TEST_CASE("two listeners, each with its own handler and name", "[http][server]") {
  class name_handler final : public handler {
   public:
    explicit name_handler(std::string n) : n_(std::move(n)) {}
    void handle(request, const request_context& ctx, respond done) noexcept override {
      response res{bh::status::ok, 11};
      res.body() = n_ + "@" + ctx.listener + (ctx.tls ? "+tls" : "");
      done(std::move(res));
    }

   private:
    std::string n_;
  };
  fixture f;
  const auto pub = f.listen(std::make_shared<name_handler>("issuer"), test_limits(), {}, "public");
  const auto internal = f.listen(std::make_shared<name_handler>("admin"), test_limits(), {}, "internal");
  f.start();
  client a(pub);
  client b(internal);
  REQUIRE(a.send(get("/")));
  REQUIRE(b.send(get("/")));
  auto ra = a.read();
  auto rb = b.read();
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra->body() == "issuer@public");
  CHECK(rb->body() == "admin@internal");
}

TEST_CASE("connections over max_connections are closed at once", "[http][server]") {
  limits lim = test_limits();
  lim.max_connections = 2;
  auto echo = std::make_shared<echo_handler>();
  fixture f;
  f.listen(echo, lim);
  f.start();

  auto a = std::make_unique<client>(f.port);
  client b(f.port);
  for (client* c : {a.get(), &b}) {
    REQUIRE(c->send(get("/in")));
    REQUIRE(c->read());
  }
  CHECK(f.srv->active_connections() == 2);

  client over(f.port);
  REQUIRE(over.connected());  // the kernel completes the handshake...
  over.send(get("/over"));
  CHECK(over.closed_within(2000ms));  // ...and the listener closes it unanswered
  CHECK(f.srv->active_connections() == 2);

  // Closing one frees a slot.
  a->close();
  REQUIRE(eventually([&] { return f.srv->active_connections() == 1; }));
  client again(f.port);
  REQUIRE(again.send(get("/again")));
  auto res = again.read();
  REQUIRE(res);
  CHECK(res->body() == "GET /again\n");
  CHECK(echo->calls == 3);
}

TEST_CASE("graceful shutdown drains an in-flight request and refuses new connections", "[http][server]") {
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h);
  f.start();

  client busy(f.port);
  client idle(f.port);
  REQUIRE(idle.send(get("/warm")));
  REQUIRE(idle.read());
  REQUIRE(busy.send(get("/slow?delay=300")));
  REQUIRE(eventually([&] { return f.srv->in_flight() == 1; }));

  done_probe done;
  f.srv->begin_shutdown(5000ms, done.callback());
  CHECK(f.srv->shutting_down());

  // Accepting stopped before begin_shutdown returned.
  client refused(f.port);
  CHECK_FALSE(refused.connected());
  CHECK(refused.connect_error() == net::error::connection_refused);

  // The idle keep-alive connection is closed at once.
  CHECK(idle.closed_within(2000ms));

  // The in-flight request still gets its response, marked as the last.
  auto res = busy.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::ok);
  CHECK(res->body() == "/slow?delay=300");
  CHECK(has_close(*res));
  CHECK(busy.closed_within(2000ms));
  busy.close();  // as a client does on end of stream; ends the server's linger

  REQUIRE(done.ready_within(3000ms));
  CHECK(done.future.get() == shutdown_outcome::drained);
  CHECK(f.srv->active_connections() == 0);
  CHECK(f.srv->in_flight() == 0);
  f.srv->join();  // the io_context stopped after on_done
}

TEST_CASE("graceful shutdown answers every pipelined request already read", "[http][server]") {
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h);
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/1?delay=200") + get("/2?delay=100") + get("/3")));
  REQUIRE(eventually([&] { return h->calls == 3; }));

  done_probe done;
  f.srv->begin_shutdown(5000ms, done.callback());
  for (const char* want : {"/1?delay=200", "/2?delay=100", "/3"}) {
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->body() == want);
    CHECK(has_close(*res) == (std::string(want) == "/3"));
  }
  CHECK(c.closed_within(2000ms));
  c.close();
  REQUIRE(done.ready_within(3000ms));
  CHECK(done.future.get() == shutdown_outcome::drained);
}

TEST_CASE("shutdown forces a stop when the budget expires", "[http][server]") {
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h);
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/stuck?delay=1500")));
  REQUIRE(eventually([&] { return f.srv->in_flight() == 1; }));

  done_probe done;
  const auto start = std::chrono::steady_clock::now();
  f.srv->begin_shutdown(200ms, done.callback());
  REQUIRE(done.ready_within(2500ms));
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
  CHECK(done.future.get() == shutdown_outcome::forced);
  CHECK(c.closed_within(1000ms));  // cut without a response
  CHECK(f.srv->active_connections() == 0);
  f.srv->join();
}

TEST_CASE("a second shutdown request forces at once", "[http][server]") {
  fixture f;
  auto h = std::make_shared<delayed_handler>(f.runner);
  f.listen(h);
  f.start();
  client c(f.port);
  REQUIRE(c.send(get("/stuck?delay=1500")));
  REQUIRE(eventually([&] { return f.srv->in_flight() == 1; }));

  done_probe done;
  f.srv->begin_shutdown(60'000ms, done.callback());
  CHECK_FALSE(done.ready_within(200ms));  // still draining
  f.srv->begin_shutdown(60'000ms, {});
  REQUIRE(done.ready_within(2000ms));
  CHECK(done.future.get() == shutdown_outcome::forced);
  CHECK(c.closed_within(1000ms));
  f.srv->join();
}

TEST_CASE("shutdown with nothing open completes at once", "[http][server]") {
  fixture f;
  f.listen(std::make_shared<echo_handler>());
  f.start();
  done_probe done;
  f.srv->begin_shutdown(10'000ms, done.callback());
  REQUIRE(done.ready_within(2000ms));
  CHECK(done.future.get() == shutdown_outcome::drained);
  f.srv->join();
}

TEST_CASE("run() blocks until shutdown completes", "[http][server]") {
  auto srv = std::make_unique<server>(2);
  const auto port =
      srv->add_listener({"public", loopback_any_port(), test_limits(), std::make_shared<echo_handler>(), {}})->port();
  std::thread runner([&] { srv->run(); });
  {
    client c(port);
    REQUIRE(c.send(get("/r")));
    auto res = c.read();
    REQUIRE(res);
    CHECK(res->body() == "GET /r\n");
  }
  // A timer on the server's io_context, as a daemon's signal_set would be.
  net::steady_timer t(srv->io_context());
  t.expires_after(50ms);
  t.async_wait([&](boost::system::error_code) { srv->begin_shutdown(1000ms); });
  runner.join();
  CHECK(srv->active_connections() == 0);
}

// ---------------------------------------------------------------- background work

// Runs |f| on the server's I/O threads and waits for it.
template <class F>
void on_io_thread(server& srv, F f) {
  std::promise<void> ran;
  net::post(srv.io_context(), [&] {
    f();
    ran.set_value();
  });
  REQUIRE(ran.get_future().wait_for(2s) == std::future_status::ready);
}

TEST_CASE("a background job runs after the handlers that are ready", "[http][server][background]") {
  // On one I/O thread dispatch_background queues too: never inline.
  for (const bool dispatch : {false, true}) {
    INFO((dispatch ? "dispatch_background" : "post_background"));
    server srv(1);
    srv.start();
    std::vector<std::string> order;  // touched by the one I/O thread only
    std::promise<void> done;
    on_io_thread(srv, [&] {
      auto job = [&] {
        order.push_back("job");
        done.set_value();
      };
      if (dispatch) {
        srv.dispatch_background(job);
      } else {
        srv.post_background(job);
      }
      order.push_back("handler");
      for (const char* name : {"h1", "h2", "h3"}) {
        net::post(srv.io_context(), [&order, name] { order.push_back(name); });
      }
    });
    REQUIRE(done.get_future().wait_for(2s) == std::future_status::ready);
    CHECK(order == std::vector<std::string>{"handler", "h1", "h2", "h3", "job"});
    srv.stop();
  }
}

TEST_CASE("a stream of ready handlers does not starve background jobs", "[http][server][background]") {
  server srv(1);
  srv.start();
  constexpr int chain = 1000;
  int steps = 0;  // the one I/O thread only
  int steps_at_job = -1;
  std::promise<void> chain_done;
  std::function<void()> step = [&] {
    if (++steps < chain) {
      net::post(srv.io_context(), step);
    } else {
      chain_done.set_value();
    }
  };
  on_io_thread(srv, [&] {
    srv.post_background([&] { steps_at_job = steps; });
    net::post(srv.io_context(), step);
  });
  REQUIRE(chain_done.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(steps_at_job >= 1);
  CHECK(steps_at_job <= static_cast<int>(background_queue::max_turns));
  srv.stop();
}

TEST_CASE("queued background jobs spread over the I/O threads", "[http][server][background]") {
  server srv(2);
  srv.start();
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    // Each job waits for the other to start: run one after the other on a
    // single thread, the first would give up.
    std::atomic<int> started{0};
    std::atomic<int> met{0};
    std::atomic<int> finished{0};
    auto job = [&] {
      started.fetch_add(1);
      if (eventually([&] { return started.load() == 2; }, 2000ms)) {
        met.fetch_add(1);
      }
      finished.fetch_add(1);
    };
    on_io_thread(srv, [&] {
      srv.post_background(job);
      srv.post_background(job);
    });
    REQUIRE(eventually([&] { return finished.load() == 2; }, 5000ms));
    CHECK(met.load() == 2);
  }
  srv.stop();
}

TEST_CASE("post_background wakes an idle server", "[http][server][background]") {
  server srv(2);
  srv.start();
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(20ms);  // every I/O thread blocked waiting
    std::promise<std::thread::id> ran_on;
    srv.post_background([&] { ran_on.set_value(std::this_thread::get_id()); });
    auto f = ran_on.get_future();
    REQUIRE(f.wait_for(2s) == std::future_status::ready);
    CHECK(f.get() != std::this_thread::get_id());
  }
  CHECK(srv.background_pending() == 0);
  srv.stop();
}

TEST_CASE("dispatch_background runs a job at once while another I/O thread is free",
          "[http][server][background]") {
  server srv(2);
  srv.start();
  for (int round = 0; round < 5; ++round) {
    bool ran_inline = false;
    on_io_thread(srv, [&] {
      bool ran = false;
      srv.dispatch_background([&] { ran = true; });
      ran_inline = ran;  // set before dispatch_background returned
    });
    CHECK(ran_inline);
    CHECK(srv.background_pending() == 0);
  }
  srv.stop();
}

TEST_CASE("dispatch_background queues while the other I/O thread runs a job",
          "[http][server][background]") {
  // Declared before the server: its threads (joined by its destructor) read them.
  std::atomic<bool> release{false};
  std::atomic<bool> blocker_running{false};
  std::atomic<bool> second_ran{false};
  server srv(2);
  srv.start();
  // One thread runs a job dispatched at once and holds it...
  net::post(srv.io_context(), [&] {
    srv.dispatch_background([&] {
      blocker_running = true;
      eventually([&] { return release.load(); }, 5000ms);
    });
  });
  REQUIRE(eventually([&] { return blocker_running.load(); }, 2000ms));
  // ...so a job dispatched on the other one is queued, not run in the handler.
  bool ran_inline = true;
  on_io_thread(srv, [&] {
    srv.dispatch_background([&] { second_ran = true; });
    ran_inline = second_ran.load();
  });
  CHECK_FALSE(ran_inline);
  CHECK(eventually([&] { return second_ran.load(); }, 2000ms));  // then taken from the queue
  release = true;
  srv.stop();
}

TEST_CASE("dispatch_background from another thread queues", "[http][server][background]") {
  server srv(2);
  srv.start();
  std::promise<std::thread::id> ran_on;
  srv.dispatch_background([&] { ran_on.set_value(std::this_thread::get_id()); });
  auto f = ran_on.get_future();
  REQUIRE(f.wait_for(2s) == std::future_status::ready);
  CHECK(f.get() != std::this_thread::get_id());
  srv.stop();
}

TEST_CASE("background jobs left at stop are destroyed, not run", "[http][server][background]") {
  auto srv = std::make_unique<server>(1);
  srv->start();
  srv->stop();
  srv->join();
  auto owned = std::make_shared<int>(1);
  bool ran = false;
  srv->post_background([owned, &ran] { ran = true; });
  CHECK(srv->background_pending() == 1);
  CHECK(owned.use_count() == 2);
  srv.reset();
  CHECK(owned.use_count() == 1);
  CHECK_FALSE(ran);
}

}  // namespace
}  // namespace athm::http::test
