#include "server/store/redis_store.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace athm::store {

namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using boost::system::error_code;

// Longest mark lifetime sent to Redis. Also keeps the arithmetic below far
// from overflowing system_clock's nanoseconds.
constexpr std::chrono::hours max_ttl{24 * 366 * 100};

void append_hex(std::string& out, const uint8_t* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
}

// One command in RESP: an array of bulk strings.
std::string encode_command(std::initializer_list<std::string_view> args) {
  std::string out;
  out.reserve(32 + 16 * args.size() +
              [&] {
                std::size_t n = 0;
                for (auto a : args) {
                  n += a.size();
                }
                return n;
              }());
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (auto a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out.append(a.data(), a.size());
    out += "\r\n";
  }
  return out;
}

// Milliseconds until |expiry|, rounded up, in [1, max_ttl].
int64_t ttl_ms(clock::time_point expiry, clock::time_point now) {
  if (expiry <= now) {
    return 1;
  }
  const auto left = expiry - now;
  if (left >= max_ttl) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(max_ttl).count();
  }
  return std::max<int64_t>(1, std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

bool is_status(const redisReply* r, std::string_view text) {
  return r != nullptr && r->type == REDIS_REPLY_STATUS &&
         std::string_view(r->str, r->len) == text;
}

int64_t steady_ns(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void check_options(const redis_options& o) {
  auto bad = [](const char* what) {
    throw std::invalid_argument(std::string("redis store: ") + what);
  };
  if (o.host.empty()) {
    bad("host must not be empty");
  }
  if (o.port == 0) {
    bad("port must not be 0");
  }
  if (o.timeout.count() <= 0) {
    bad("timeout must be positive");
  }
  if (o.key_prefix.empty()) {
    bad("key_prefix must not be empty");
  }
  if (o.pool_size == 0) {
    bad("pool_size must be at least 1");
  }
  if (o.max_pending == 0) {
    bad("max_pending must be at least 1");
  }
  if (o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min) {
    bad("reconnect backoff must satisfy 0 < reconnect_min <= reconnect_max");
  }
  if (o.ping_interval.count() <= 0) {
    bad("ping_interval must be positive");
  }
}

}  // namespace

std::string redis_mark_key(std::string_view prefix, const key_id& key, const marker& m) {
  std::string out;
  out.reserve(prefix.size() + 7 + 16 + 1 + 64);
  out.append(prefix.data(), prefix.size());
  out += ":spent:";
  append_hex(out, key.data(), 8);
  out += ':';
  append_hex(out, m.data(), m.size());
  return out;
}

struct redis_store::impl {
  struct connection;

  enum class op_kind { mark, auth, hello, ping };

  // One command: queued on the I/O thread, then in flight on a connection.
  struct op {
    op_kind kind = op_kind::mark;
    steady::time_point deadline;
    std::string command;  // RESP; dropped once hiredis has copied it
    spend_handler done;   // marks only
    connection* conn = nullptr;
  };

  // The Asio side of one hiredis context: its socket as a stream_descriptor
  // (which never owns the fd: hiredis closes it) and the event flags
  // hiredis sets through its hooks. Shared with the pending waits, so it
  // outlives the context when a wait is still queued.
  struct watcher : std::enable_shared_from_this<watcher> {
    watcher(asio::io_context& io, int fd, connection* c) : sd(io, fd), conn(c) {}
    ~watcher() {
      if (sd.is_open()) {
        sd.release();
      }
    }
    asio::posix::stream_descriptor sd;
    connection* conn;
    redisAsyncContext* ac = nullptr;  // null once hiredis cleaned up
    bool connected = false;           // TCP connect done
    bool want_read = false;
    bool want_write = false;
    bool read_armed = false;
    bool write_armed = false;
    bool in_write = false;  // inside redisAsyncHandleWrite
  };

  enum class conn_state { idle, resolving, connecting, handshake, ready };

  struct connection {
    connection(impl& o, std::size_t i)
        : owner(o),
          index(i),
          deadline_timer(o.io),
          retry_timer(o.io),
          ping_timer(o.io),
          backoff(o.opts.reconnect_min) {}

    impl& owner;
    const std::size_t index;
    // All below: I/O thread only, except the atomics.
    conn_state state = conn_state::idle;
    redisAsyncContext* ac = nullptr;
    std::shared_ptr<watcher> w;
    bool dropping = false;           // redisAsyncFree called, cleanup pending
    std::string drop_reason;         // for the log line
    std::deque<std::unique_ptr<op>> in_flight;  // in send (= reply) order
    steady::time_point connect_deadline;
    bool deadline_armed = false;
    asio::steady_timer deadline_timer;
    asio::steady_timer retry_timer;
    asio::steady_timer ping_timer;
    std::chrono::milliseconds backoff;
    bool ping_outstanding = false;
    std::size_t attempts = 0;        // connection attempts, to rotate addresses
    bool failure_logged = false;     // a failure of the current series was logged
    bool mark_error_logged = false;  // an error reply was logged on this connection
    std::atomic<bool> up{false};
    std::atomic<int64_t> last_ok{0};  // steady ns of the last successful reply
  };

  explicit impl(const redis_options& o);
  ~impl();

  // Any thread.
  void submit(const key_id& key, const marker& m, clock::time_point expiry,
              spend_handler done) noexcept;

  // I/O thread only, from here on.
  void start_mark(std::unique_ptr<op> o);
  void finish(std::unique_ptr<op> o, spend_result r);
  connection* pick();
  bool send(connection& c, std::unique_ptr<op>& o);
  void start_connect(connection& c);
  void connect_to(connection& c, const std::string& ip);
  void connect_failed(connection& c, const std::string& why);
  void on_connected(connection& c);
  void on_reply(connection& c, std::unique_ptr<op> o, const redisReply* r);
  void on_context_gone(connection& c, const char* err);
  void drop(connection& c, std::string reason);
  void schedule_reconnect(connection& c);
  void arm_deadline(connection& c);
  void on_deadline(connection& c);
  std::optional<steady::time_point> next_due(const connection& c) const;
  void schedule_ping(connection& c);
  void on_ping_timer(connection& c);
  void touch(connection& c);
  void log_failure(connection& c, const std::string& why);
  void begin_shutdown();
  void maybe_finish_shutdown();

  // hiredis hooks and callbacks.
  static void ev_add_read(void* p);
  static void ev_del_read(void* p);
  static void ev_add_write(void* p);
  static void ev_del_write(void* p);
  static void ev_cleanup(void* p);
  static void arm_read(watcher& w);
  static void arm_write(watcher& w);
  static void on_connect_cb(const redisAsyncContext* ac, int status);
  static void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);

  const redis_options opts;
  const std::chrono::milliseconds ping_every;
  const bool host_is_ip;

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::ip::tcp::resolver resolver;
  std::vector<std::unique_ptr<connection>> conns;
  std::size_t rr = 0;       // I/O thread
  bool stopping = false;    // I/O thread

  std::atomic<bool> accepting{true};
  std::atomic<std::size_t> pending{0};
  std::atomic<uint64_t> n_fresh{0};
  std::atomic<uint64_t> n_spent{0};
  std::atomic<uint64_t> n_unavailable{0};
  std::atomic<uint64_t> n_no_connection{0};
  std::atomic<uint64_t> n_overloaded{0};
  std::atomic<uint64_t> n_timeouts{0};
  std::atomic<uint64_t> n_error_replies{0};
  std::atomic<uint64_t> n_connects{0};
  std::atomic<uint64_t> n_disconnects{0};

  std::thread thread;  // last: starts once everything above exists
};

redis_store::impl::impl(const redis_options& o)
    : opts((check_options(o), o)),
      ping_every(std::max(std::chrono::milliseconds(1),
                          std::min(o.ping_interval, o.timeout / 3))),
      host_is_ip([&] {
        error_code ec;
        asio::ip::make_address(o.host, ec);
        return !ec;
      }()),
      work(io.get_executor()),
      resolver(io) {
  conns.reserve(opts.pool_size);
  for (std::size_t i = 0; i < opts.pool_size; ++i) {
    conns.push_back(std::make_unique<connection>(*this, i));
  }
  for (auto& c : conns) {
    asio::post(io, [this, c = c.get()] { start_connect(*c); });
  }
  thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "athm-redis");
    io.run();
  });
}

redis_store::impl::~impl() {
  accepting.store(false);
  asio::post(io, [this] { begin_shutdown(); });
  thread.join();
  // Marks posted by callers racing with the end of run() still complete.
  io.restart();
  io.poll();
}

void redis_store::impl::submit(const key_id& key, const marker& m, clock::time_point expiry,
                               spend_handler done) noexcept {
  auto o = std::make_unique<op>();
  o->kind = op_kind::mark;
  o->done = std::move(done);
  o->deadline = steady::now() + opts.timeout;
  const bool over = pending.fetch_add(1, std::memory_order_relaxed) >= opts.max_pending;
  if (over || !accepting.load(std::memory_order_relaxed)) {
    if (over) {
      n_overloaded.fetch_add(1, std::memory_order_relaxed);
    }
    asio::post(io, [this, o = std::move(o)]() mutable {
      finish(std::move(o), spend_result::unavailable);
    });
    return;
  }
  const std::string k = redis_mark_key(opts.key_prefix, key, m);
  const std::string px = std::to_string(ttl_ms(expiry, clock::now()));
  o->command = encode_command({"SET", k, "1", "NX", "PX", px});
  asio::post(io, [this, o = std::move(o)]() mutable { start_mark(std::move(o)); });
}

void redis_store::impl::finish(std::unique_ptr<op> o, spend_result r) {
  switch (r) {
    case spend_result::fresh:
      n_fresh.fetch_add(1, std::memory_order_relaxed);
      break;
    case spend_result::already_spent:
      n_spent.fetch_add(1, std::memory_order_relaxed);
      break;
    case spend_result::unavailable:
      n_unavailable.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  spend_handler done = std::move(o->done);
  o.reset();
  pending.fetch_sub(1, std::memory_order_relaxed);
  done(r);
}

void redis_store::impl::start_mark(std::unique_ptr<op> o) {
  if (stopping) {
    finish(std::move(o), spend_result::unavailable);
    return;
  }
  if (steady::now() >= o->deadline) {
    // Waited out its whole budget in the queue.
    n_timeouts.fetch_add(1, std::memory_order_relaxed);
    finish(std::move(o), spend_result::unavailable);
    return;
  }
  connection* c = pick();
  if (c == nullptr) {
    n_no_connection.fetch_add(1, std::memory_order_relaxed);
    finish(std::move(o), spend_result::unavailable);
    return;
  }
  if (!send(*c, o)) {
    finish(std::move(o), spend_result::unavailable);
  }
}

redis_store::impl::connection* redis_store::impl::pick() {
  const std::size_t n = conns.size();
  for (std::size_t i = 0; i < n; ++i) {
    connection& c = *conns[(rr + i) % n];
    if (c.state == conn_state::ready && !c.dropping) {
      rr = (rr + i + 1) % n;
      return &c;
    }
  }
  return nullptr;
}

bool redis_store::impl::send(connection& c, std::unique_ptr<op>& o) {
  if (c.ac == nullptr || c.dropping) {
    return false;
  }
  o->conn = &c;
  if (redisAsyncFormattedCommand(c.ac, &on_reply_cb, o.get(), o->command.data(),
                                 o->command.size()) != REDIS_OK) {
    return false;
  }
  // hiredis keeps its own copy in its output buffer.
  if (o->kind == op_kind::auth) {
    explicit_bzero(o->command.data(), o->command.size());
  }
  std::string().swap(o->command);
  c.in_flight.push_back(std::move(o));
  arm_deadline(c);
  return true;
}

void redis_store::impl::start_connect(connection& c) {
  if (stopping || c.state != conn_state::idle) {
    return;
  }
  if (host_is_ip) {
    connect_to(c, opts.host);
    return;
  }
  c.state = conn_state::resolving;
  resolver.async_resolve(
      opts.host, std::to_string(opts.port),
      [this, &c](const error_code& ec, const asio::ip::tcp::resolver::results_type& results) {
        if (c.state != conn_state::resolving) {
          return;
        }
        c.state = conn_state::idle;
        if (stopping) {
          maybe_finish_shutdown();
          return;
        }
        if (ec || results.empty()) {
          connect_failed(c, "cannot resolve host: " + (ec ? ec.message() : "no address"));
          return;
        }
        // A name may have several addresses (localhost: ::1 and 127.0.0.1);
        // successive attempts walk through them.
        auto it = results.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(c.attempts++ % results.size()));
        connect_to(c, it->endpoint().address().to_string());
      });
}

void redis_store::impl::connect_to(connection& c, const std::string& ip) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), opts.port);
  if (ac == nullptr) {
    connect_failed(c, "out of memory");
    return;
  }
  if (ac->err != 0) {
    std::string why = ac->errstr != nullptr ? ac->errstr : "connect failed";
    redisAsyncFree(ac);
    connect_failed(c, why);
    return;
  }
  std::shared_ptr<watcher> w;
  try {
    w = std::make_shared<watcher>(io, ac->c.fd, &c);
  } catch (const std::exception& e) {
    redisAsyncFree(ac);
    connect_failed(c, std::string("cannot watch the socket: ") + e.what());
    return;
  }
  // hiredis sets TCP_NODELAY too; a mark is one small write that must not
  // wait for an ACK.
  const int one = 1;
  ::setsockopt(ac->c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  w->ac = ac;
  ac->data = &c;
  ac->ev.data = w.get();
  ac->ev.addRead = &ev_add_read;
  ac->ev.delRead = &ev_del_read;
  ac->ev.addWrite = &ev_add_write;
  ac->ev.delWrite = &ev_del_write;
  ac->ev.cleanup = &ev_cleanup;
  c.ac = ac;
  c.w = std::move(w);
  c.state = conn_state::connecting;
  c.connect_deadline = steady::now() + opts.timeout;
  // Waits for the socket to become writable: the end of connect().
  redisAsyncSetConnectCallback(ac, &on_connect_cb);
  arm_deadline(c);
}

void redis_store::impl::connect_failed(connection& c, const std::string& why) {
  log_failure(c, why);
  schedule_reconnect(c);
}

void redis_store::impl::on_connected(connection& c) {
  c.w->connected = true;
  c.state = conn_state::handshake;
  // The handshake must finish within one timeout from here as well.
  c.connect_deadline = steady::now() + opts.timeout;
  const auto deadline = c.connect_deadline;
  if (!opts.password.empty()) {
    auto auth = std::make_unique<op>();
    auth->kind = op_kind::auth;
    auth->deadline = deadline;
    auth->command = encode_command({"AUTH", opts.password});
    if (!send(c, auth)) {
      explicit_bzero(auth->command.data(), auth->command.size());
      return;  // the connect deadline drops the connection
    }
  }
  auto hello = std::make_unique<op>();
  hello->kind = op_kind::hello;
  hello->deadline = deadline;
  hello->command = encode_command({"PING"});
  send(c, hello);
}

void redis_store::impl::on_reply(connection& c, std::unique_ptr<op> o, const redisReply* r) {
  switch (o->kind) {
    case op_kind::mark: {
      spend_result res = spend_result::unavailable;
      if (is_status(r, "OK")) {
        res = spend_result::fresh;
        touch(c);
      } else if (r != nullptr && r->type == REDIS_REPLY_NIL) {
        res = spend_result::already_spent;
        touch(c);
      } else if (r != nullptr) {
        n_error_replies.fetch_add(1, std::memory_order_relaxed);
        if (r->type == REDIS_REPLY_ERROR && !c.mark_error_logged) {
          // Redis error texts name no key (OOM, MISCONF, READONLY, ...).
          c.mark_error_logged = true;
          spdlog::warn("redis store: {}:{} refused a mark: {}", opts.host, opts.port,
                       std::string_view(r->str, r->len));
        }
      }
      finish(std::move(o), res);
      break;
    }
    case op_kind::auth:
      if (r != nullptr && !is_status(r, "OK")) {
        // The reply text is not logged: it could echo the command.
        drop(c, "AUTH was rejected (check store.redis.password)");
      }
      break;
    case op_kind::hello:
      if (r == nullptr) {
        break;
      }
      if (is_status(r, "PONG")) {
        c.state = conn_state::ready;
        c.backoff = opts.reconnect_min;
        c.mark_error_logged = false;
        touch(c);
        c.up.store(true, std::memory_order_release);
        n_connects.fetch_add(1, std::memory_order_relaxed);
        if (c.failure_logged) {
          spdlog::info("redis store: connection {} to {}:{} is up", c.index, opts.host,
                       opts.port);
          c.failure_logged = false;
        }
        schedule_ping(c);
      } else {
        std::string why = "handshake failed";
        if (r->type == REDIS_REPLY_ERROR) {
          why += ": " + std::string(r->str, r->len);
        }
        drop(c, why);
      }
      break;
    case op_kind::ping:
      c.ping_outstanding = false;
      if (r == nullptr) {
        break;
      }
      if (is_status(r, "PONG")) {
        touch(c);
      } else {
        drop(c, "PING failed");
      }
      break;
  }
  if (stopping && c.in_flight.empty()) {
    drop(c, "shutting down");
  }
}

void redis_store::impl::touch(connection& c) {
  c.last_ok.store(steady_ns(steady::now()), std::memory_order_release);
}

void redis_store::impl::log_failure(connection& c, const std::string& why) {
  if (!c.failure_logged && !stopping) {
    c.failure_logged = true;
    spdlog::warn("redis store: connection {} to {}:{}: {}; retrying", c.index, opts.host,
                 opts.port, why);
  }
}

void redis_store::impl::drop(connection& c, std::string reason) {
  if (c.ac == nullptr || c.dropping) {
    return;
  }
  c.dropping = true;
  c.drop_reason = std::move(reason);
  // Runs every pending callback with a null reply (unavailable), then the
  // cleanup hook; from inside a reply callback hiredis defers this until the
  // callback returns.
  redisAsyncFree(c.ac);
}

void redis_store::impl::on_context_gone(connection& c, const char* err) {
  const bool was_ready = c.state == conn_state::ready;
  std::string why = !c.drop_reason.empty() ? c.drop_reason
                    : err != nullptr && *err != '\0' ? std::string(err)
                                                     : std::string("connection closed");
  c.ac = nullptr;
  c.dropping = false;
  c.drop_reason.clear();
  c.ping_outstanding = false;
  c.state = conn_state::idle;
  c.up.store(false, std::memory_order_release);
  c.ping_timer.cancel();
  // hiredis has run every callback by now; anything left is failed here.
  while (!c.in_flight.empty()) {
    auto o = std::move(c.in_flight.front());
    c.in_flight.pop_front();
    if (o->kind == op_kind::mark) {
      finish(std::move(o), spend_result::unavailable);
    }
  }
  if (stopping) {
    maybe_finish_shutdown();
    return;
  }
  if (was_ready) {
    n_disconnects.fetch_add(1, std::memory_order_relaxed);
    c.failure_logged = false;
  }
  log_failure(c, why);
  schedule_reconnect(c);
}

void redis_store::impl::schedule_reconnect(connection& c) {
  if (stopping) {
    return;
  }
  const auto delay = c.backoff;
  c.backoff = std::min(opts.reconnect_max, c.backoff * 2);
  c.retry_timer.expires_after(delay);
  c.retry_timer.async_wait([this, &c](const error_code& ec) {
    if (!ec && !stopping) {
      start_connect(c);
    }
  });
}

std::optional<steady::time_point> redis_store::impl::next_due(const connection& c) const {
  if (c.ac == nullptr) {
    return std::nullopt;
  }
  if (!c.in_flight.empty()) {
    return c.in_flight.front()->deadline;
  }
  if (c.state == conn_state::connecting || c.state == conn_state::handshake) {
    return c.connect_deadline;
  }
  return std::nullopt;
}

// One timer per connection serves every command on it: replies come back
// in send order, so the oldest command always has the nearest deadline
// (up to the few microseconds by which callers' clocks race).
void redis_store::impl::arm_deadline(connection& c) {
  if (c.deadline_armed) {
    return;
  }
  const auto due = next_due(c);
  if (!due) {
    return;
  }
  c.deadline_armed = true;
  c.deadline_timer.expires_at(*due);
  c.deadline_timer.async_wait([this, &c](const error_code&) {
    c.deadline_armed = false;
    on_deadline(c);
  });
}

void redis_store::impl::on_deadline(connection& c) {
  const auto due = next_due(c);
  if (!due || c.dropping) {
    return;
  }
  if (*due <= steady::now()) {
    n_timeouts.fetch_add(1, std::memory_order_relaxed);
    drop(c, c.state == conn_state::ready ? "command timed out" : "connect timed out");
    return;
  }
  arm_deadline(c);
}

void redis_store::impl::schedule_ping(connection& c) {
  c.ping_timer.expires_after(ping_every);
  c.ping_timer.async_wait([this, &c](const error_code& ec) {
    if (!ec && !stopping) {
      on_ping_timer(c);
    }
  });
}

void redis_store::impl::on_ping_timer(connection& c) {
  if (c.state != conn_state::ready || c.dropping) {
    return;  // the next handshake schedules pings again
  }
  const auto idle = steady_ns(steady::now()) - c.last_ok.load(std::memory_order_relaxed);
  if (!c.ping_outstanding &&
      idle >= std::chrono::duration_cast<std::chrono::nanoseconds>(ping_every).count()) {
    auto p = std::make_unique<op>();
    p->kind = op_kind::ping;
    p->deadline = steady::now() + opts.timeout;
    p->command = encode_command({"PING"});
    if (send(c, p)) {
      c.ping_outstanding = true;
    }
  }
  schedule_ping(c);
}

void redis_store::impl::begin_shutdown() {
  stopping = true;
  resolver.cancel();
  for (auto& c : conns) {
    c->retry_timer.cancel();
    c->ping_timer.cancel();
    if (c->ac != nullptr && c->in_flight.empty()) {
      drop(*c, "shutting down");
    }
    // With commands in flight: on_reply drops it after the last reply, or
    // the deadline does.
  }
  maybe_finish_shutdown();
}

void redis_store::impl::maybe_finish_shutdown() {
  if (!stopping) {
    return;
  }
  for (auto& c : conns) {
    if (c->ac != nullptr || c->state == conn_state::resolving) {
      return;
    }
  }
  for (auto& c : conns) {
    c->deadline_timer.cancel();
  }
  work.reset();  // run() returns once the cancelled waits have run
}

// --- hiredis event hooks: hiredis asks for read/write readiness, Asio waits.

void redis_store::impl::arm_read(watcher& w) {
  if (w.read_armed || w.ac == nullptr) {
    return;
  }
  w.read_armed = true;
  w.sd.async_wait(asio::posix::stream_descriptor::wait_read,
                  [self = w.shared_from_this()](const error_code& ec) {
                    self->read_armed = false;
                    if (ec || self->ac == nullptr || !self->want_read) {
                      return;
                    }
                    redisAsyncHandleRead(self->ac);  // re-arms through addRead
                  });
}

void redis_store::impl::arm_write(watcher& w) {
  if (w.write_armed || w.ac == nullptr) {
    return;
  }
  w.write_armed = true;
  auto handler = [self = w.shared_from_this()](const error_code& ec) {
    self->write_armed = false;
    if (ec || self->ac == nullptr || !self->want_write) {
      return;
    }
    self->in_write = true;
    redisAsyncHandleWrite(self->ac);  // may free the context (cleanup hook)
    self->in_write = false;
  };
  if (w.connected && !w.in_write) {
    // A connected socket is almost always writable: flush after the work
    // already queued on the I/O thread, so marks posted together leave in
    // one write. If the kernel buffer is full, hiredis asks again from
    // inside the write and the branch below waits for room.
    asio::post(w.sd.get_executor(), [handler = std::move(handler)] { handler(error_code()); });
  } else {
    w.sd.async_wait(asio::posix::stream_descriptor::wait_write, std::move(handler));
  }
}

void redis_store::impl::ev_add_read(void* p) {
  auto* w = static_cast<watcher*>(p);
  w->want_read = true;
  arm_read(*w);
}

void redis_store::impl::ev_del_read(void* p) {
  static_cast<watcher*>(p)->want_read = false;
}

void redis_store::impl::ev_add_write(void* p) {
  auto* w = static_cast<watcher*>(p);
  w->want_write = true;
  arm_write(*w);
}

void redis_store::impl::ev_del_write(void* p) {
  static_cast<watcher*>(p)->want_write = false;
}

void redis_store::impl::ev_cleanup(void* p) {
  auto* w = static_cast<watcher*>(p);
  connection& c = *w->conn;
  std::string err = w->ac != nullptr && w->ac->errstr != nullptr ? w->ac->errstr : "";
  w->ac = nullptr;
  w->want_read = false;
  w->want_write = false;
  // Deregisters from the reactor and cancels the waits; hiredis closes the
  // fd right after this hook.
  w->sd.release();
  // Keep the watcher alive to the end of this hook even if no wait holds it.
  std::shared_ptr<watcher> hold = std::move(c.w);
  c.owner.on_context_gone(c, err.c_str());
}

void redis_store::impl::on_connect_cb(const redisAsyncContext* ac, int status) {
  auto* c = static_cast<connection*>(ac->data);
  if (status != REDIS_OK) {
    // hiredis frees the context right after this; the cleanup hook follows.
    c->drop_reason = ac->errstr != nullptr && ac->errstr[0] != '\0'
                         ? std::string(ac->errstr)
                         : std::string("connect failed");
    return;
  }
  c->owner.on_connected(*c);
}

void redis_store::impl::on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* raw = static_cast<op*>(privdata);
  connection& c = *raw->conn;
  std::unique_ptr<op> o;
  if (!c.in_flight.empty() && c.in_flight.front().get() == raw) {
    o = std::move(c.in_flight.front());
    c.in_flight.pop_front();
  } else {
    auto it = std::find_if(c.in_flight.begin(), c.in_flight.end(),
                           [raw](const std::unique_ptr<op>& x) { return x.get() == raw; });
    if (it == c.in_flight.end()) {
      return;  // already completed
    }
    o = std::move(*it);
    c.in_flight.erase(it);
  }
  c.owner.on_reply(c, std::move(o), static_cast<const redisReply*>(reply));
  (void)ac;
}

// --- redis_store

redis_store::redis_store(const redis_options& opts) : impl_(std::make_unique<impl>(opts)) {}

redis_store::~redis_store() = default;

void redis_store::check_and_mark(const key_id& key, const marker& m,
                                 clock::time_point key_expiry, spend_handler done) noexcept {
  impl_->submit(key, m, key_expiry, std::move(done));
}

int64_t redis_store::purge_expired(clock::time_point) noexcept { return 0; }

bool redis_store::healthy() const noexcept {
  const int64_t now = steady_ns(steady::now());
  const int64_t window =
      std::chrono::duration_cast<std::chrono::nanoseconds>(impl_->opts.timeout).count() * 2;
  for (const auto& c : impl_->conns) {
    if (c->up.load(std::memory_order_acquire) &&
        now - c->last_ok.load(std::memory_order_acquire) <= window) {
      return true;
    }
  }
  return false;
}

redis_stats redis_store::stats() const noexcept {
  redis_stats s;
  s.fresh = impl_->n_fresh.load(std::memory_order_relaxed);
  s.already_spent = impl_->n_spent.load(std::memory_order_relaxed);
  s.unavailable = impl_->n_unavailable.load(std::memory_order_relaxed);
  s.no_connection = impl_->n_no_connection.load(std::memory_order_relaxed);
  s.overloaded = impl_->n_overloaded.load(std::memory_order_relaxed);
  s.timeouts = impl_->n_timeouts.load(std::memory_order_relaxed);
  s.error_replies = impl_->n_error_replies.load(std::memory_order_relaxed);
  s.connects = impl_->n_connects.load(std::memory_order_relaxed);
  s.disconnects = impl_->n_disconnects.load(std::memory_order_relaxed);
  for (const auto& c : impl_->conns) {
    s.connections_up += c->up.load(std::memory_order_relaxed) ? 1 : 0;
  }
  return s;
}

}  // namespace athm::store
