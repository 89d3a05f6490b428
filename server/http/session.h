// One HTTP/1.1 connection: reads requests, hands them to the listener's
// handler, writes the responses back in request order.
//
// Generic over the stream so that handlers never see the transport:
// session<tcp::socket> is plain HTTP; the TLS factory (tls_session.h) builds
// a session<tls_stream> after its handshake and specialises stream_ops.
//
// Threading: everything a session does runs on its stream's executor, which
// must be a strand of its own (the listener accepts onto make_strand). The
// handler is called on that strand; its completion may come from any thread
// and is dispatched back to the strand. Sessions of different connections
// never serialise each other.
//
// Bounds, all from `limits` unless named here:
//   - header: max_header_bytes, then 431 and close;
//   - body: max_body_bytes, then 413 and close (an oversized Content-Length
//     is refused before its body is read; chunked bodies as they grow);
//   - buffered input: max_header_bytes + max_body_bytes, so one whole request
//     always fits and anything larger is refused by the two limits first;
//   - read_timeout: whole request, from its first byte (slow senders);
//   - idle_timeout: nothing owed and no request started (keep-alive);
//   - write_timeout: one response;
//   - max_pipelined: responses owed; reading pauses while at the cap;
//   - after the final response, unread input is drained for at most
//     k_linger_timeout / k_linger_max_bytes before the socket is closed
//     (TLS instead exchanges close_notify, within k_linger_timeout).
// Malformed requests (including HTTP/1.1 without exactly one Host) get 400
// and the connection closes. A timeout closes the connection without a
// response. "Expect: 100-continue" is not answered: the body is read
// without an interim response (clients send it after a short wait).
//
// Keep-alive follows the request (HTTP/1.1 default on, HTTP/1.0 only with
// "Connection: keep-alive"); a handler may force a close by setting
// "Connection: close". While the listener drains, the connection closes after
// the responses it owes.
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/http/access_log.h"
#include "server/http/detail/listener_state.h"
#include "server/http/handler.h"
#include "server/http/responses.h"
#include "server/http/target.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace athm::http {

// How a session ends a stream. The default works on the lowest layer (TCP);
// a TLS stream specialises it (see server/http/tls_session.h) to send
// close_notify first.
//
// A specialisation with protocol_shutdown = true has no linger: after the
// final response the session cancels any outstanding read, then calls
// async_shutdown(s, handler) (handler: void(error_code)) and closes once it
// completes or k_linger_timeout passes, whichever is first. It must provide
// async_shutdown, cancel, close, end_of_input and wait_before_read;
// shutdown_send is not used.
template <class Stream>
struct stream_ops {
  // False: the final response is followed by shutdown_send and the linger.
  static constexpr bool protocol_shutdown = false;
  // No more bytes from us; the peer sees end of stream.
  static void shutdown_send(Stream& s, boost::system::error_code& ec) {
    boost::beast::get_lowest_layer(s).shutdown(boost::asio::socket_base::shutdown_send, ec);
  }
  // Close now; pending operations complete with operation_aborted.
  static void close(Stream& s) noexcept {
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(s).close(ec);
  }
  // Read errors, besides asio::error::eof, that mean the peer finished
  // sending (pending responses are still written).
  static bool end_of_input(const boost::system::error_code&) noexcept { return false; }
  // True: between requests the session waits for the socket to become
  // readable before it allocates a read buffer and reads, so an idle
  // connection holds no buffer. The syscall count stays the same: Asio 1.74
  // re-arms epoll for the wait (one epoll_ctl) where the read it replaces
  // failed with EAGAIN. A stream that buffers input itself (TLS) cannot.
  static constexpr bool wait_before_read = true;
  template <class Handler>
  static void async_wait_readable(Stream& s, Handler&& handler) {
    boost::beast::get_lowest_layer(s).async_wait(boost::asio::socket_base::wait_read,
                                                 std::forward<Handler>(handler));
  }
};

// After the final response, how long and how much unread input is drained
// before closing, so that closing with unread data (which sends a reset)
// does not destroy the response before the peer reads it.
inline constexpr std::chrono::milliseconds k_linger_timeout{1000};
inline constexpr std::size_t k_linger_max_bytes = 64 * 1024;
// Smallest read into an empty buffer: a typical request fits in one read.
inline constexpr std::size_t k_min_read_bytes = 4096;

template <class Stream>
class session final : public detail::session_base {
 public:
  // |stream| is connected and its executor is a strand used by nothing else.
  // |ticket| holds the listener's connection slot; it is released when the
  // connection closes. |tls| is reported to handlers in request_context.
  session(Stream&& stream, std::shared_ptr<detail::listener_state> state,
          detail::connection_ticket ticket, bool tls);
  ~session() override;

  // Starts serving. Call once, from any thread, on a session owned by a
  // shared_ptr. The session keeps itself alive while it has I/O or a
  // handler outstanding.
  void start();

  void drain() override;
  void force_close() override;
  void release() override;

 private:
  using clock = std::chrono::steady_clock;
  enum class read_state : std::uint8_t {
    none,       // no read outstanding
    awaiting,   // waiting for the first byte of a request (or lingering)
    receiving,  // a request has started; parsing it
  };

  // A request read and its response, pending until the response is written.
  struct slot {
    response res;
    clock::time_point start;
    std::string method;  // only for the access log; capacity is reused
    std::string path;
    unsigned version = 11;
    bool ready = false;       // response present
    bool keep_alive = true;   // what the request allows
    bool head = false;        // send header only
    bool final = false;       // connection closes after this response
  };

  std::shared_ptr<session> shared_this() {
    return std::static_pointer_cast<session>(shared_from_this());
  }

  void on_start();
  void do_read();
  void on_readable(boost::system::error_code ec);
  void on_first_bytes(boost::system::error_code ec, std::size_t n);
  void start_request();
  void on_read(boost::system::error_code ec, std::size_t n);
  void on_read_error(boost::system::error_code ec);
  void dispatch_request();
  void queue_error(boost::beast::http::status status);
  // Appends a slot; returns its request number (wraps; see slot_at).
  std::uint32_t push_slot();
  slot& slot_at(std::uint32_t n) { return slots_[n - head_]; }
  void complete(std::uint32_t idx, response&& res);
  void on_response(std::uint32_t idx, response&& res);
  void do_write();
  void finish_response(slot& s, bool keep_alive);
  void on_write(boost::system::error_code ec, std::size_t n);
  void log_access(const slot& s, std::size_t bytes);
  void start_linger();
  void start_protocol_shutdown();
  void on_protocol_shutdown(boost::system::error_code ec);
  void linger_next(boost::system::error_code ec, std::size_t n);
  void linger_read();
  void on_linger(boost::system::error_code ec, std::size_t n);
  void close_now() noexcept;
  void set_deadline();
  void wait_timer();
  void on_timer(boost::system::error_code ec);
  std::size_t read_chunk() const noexcept;

  static constexpr clock::time_point never() noexcept { return clock::time_point::max(); }

  Stream stream_;
  std::shared_ptr<detail::listener_state> state_;
  const limits& lim_;
  detail::connection_ticket ticket_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::deque<slot> slots_;  // owed responses, oldest first; at most max_pipelined
  request_context ctx_;
  // Set while a handler is outstanding: the handler's completion refers to
  // this session by plain pointer, so the session must outlive it.
  std::shared_ptr<session> self_;

  // Deadlines are plain values; one timer per session checks them lazily.
  // It never sleeps longer than tick_ (the smallest timeout), so pushing a
  // deadline to now + some timeout never needs to re-arm it.
  clock::time_point read_deadline_ = never();
  clock::time_point write_deadline_ = never();
  clock::time_point timer_expiry_ = never();
  clock::time_point request_start_{};
  clock::duration tick_;

  std::uint32_t head_ = 0;      // number of the request in slots_.front()
  std::uint32_t handlers_ = 0;  // handler completions outstanding
  std::size_t lingered_ = 0;
  read_state read_ = read_state::none;
  bool endpoint_ok_ = false;
  bool writing_ = false;
  bool read_stopped_ = false;  // no further request will be read
  bool lingering_ = false;     // final response written; draining input
  bool closed_ = false;
};

// ---------------------------------------------------------------------------

template <class Stream>
session<Stream>::session(Stream&& stream, std::shared_ptr<detail::listener_state> state,
                         detail::connection_ticket ticket, bool tls)
    : stream_(std::move(stream)),
      state_(std::move(state)),
      lim_(state_->lim),
      ticket_(std::move(ticket)),
      timer_(stream_.get_executor()),
      buffer_(static_cast<std::size_t>(lim_.max_header_bytes) + lim_.max_body_bytes),
      tick_(std::min({clock::duration(lim_.read_timeout), clock::duration(lim_.idle_timeout),
                      clock::duration(lim_.write_timeout)})) {
  boost::system::error_code ec;
  const auto ep = boost::beast::get_lowest_layer(stream_).remote_endpoint(ec);
  endpoint_ok_ = !ec;
  ctx_.remote_address = ep.address();
  ctx_.remote_port = ep.port();
  ctx_.tls = tls;
  ctx_.listener = state_->name;
}

template <class Stream>
session<Stream>::~session() {
  state_->remove(this);
}

template <class Stream>
void session<Stream>::start() {
  boost::asio::dispatch(stream_.get_executor(),
                        boost::beast::bind_front_handler(&session::on_start, shared_this()));
}

template <class Stream>
void session<Stream>::drain() {
  boost::asio::dispatch(stream_.get_executor(), [self = shared_this()] {
    if (self->closed_ || self->lingering_) {
      return;
    }
    if (self->slots_.empty() && self->read_ != read_state::receiving) {
      self->close_now();
    }
    // Otherwise do_write() sees draining() and ends with the last owed response.
  });
}

template <class Stream>
void session<Stream>::force_close() {
  boost::asio::dispatch(stream_.get_executor(), [self = shared_this()] { self->close_now(); });
}

template <class Stream>
void session<Stream>::release() {
  self_.reset();
}

template <class Stream>
void session<Stream>::on_start() {
  state_->add(this);
  if (closed_) {
    return;
  }
  if (!endpoint_ok_ || state_->draining()) {
    close_now();
    return;
  }
  timer_expiry_ = clock::now() + tick_;
  timer_.expires_at(timer_expiry_);
  wait_timer();
  do_read();
}

template <class Stream>
std::size_t session<Stream>::read_chunk() const noexcept {
  const std::size_t room = buffer_.max_size() - buffer_.size();
  const std::size_t want = std::max(k_min_read_bytes, buffer_.capacity() - buffer_.size());
  return std::min(room, want);
}

template <class Stream>
void session<Stream>::do_read() {
  if (closed_ || lingering_ || read_stopped_ || read_ != read_state::none) {
    return;
  }
  if (state_->draining()) {
    read_stopped_ = true;
    if (slots_.empty()) {
      close_now();
    }
    return;
  }
  if (slots_.size() >= lim_.max_pipelined) {
    return;  // at the pipelining cap; on_write resumes
  }
  if (buffer_.size() != 0) {
    start_request();  // pipelined bytes already buffered
    return;
  }
  read_ = read_state::awaiting;
  read_deadline_ = slots_.empty() ? clock::now() + lim_.idle_timeout : never();
  set_deadline();
  if constexpr (stream_ops<Stream>::wait_before_read) {
    buffer_.shrink_to_fit();  // empty: frees its storage while we wait
    stream_ops<Stream>::async_wait_readable(
        stream_, boost::beast::bind_front_handler(&session::on_readable, shared_this()));
  } else {
    stream_.async_read_some(buffer_.prepare(read_chunk()),
                            boost::beast::bind_front_handler(&session::on_first_bytes, shared_this()));
  }
}

template <class Stream>
void session<Stream>::on_readable(boost::system::error_code ec) {
  if (ec || closed_ || lingering_) {
    on_first_bytes(ec, 0);  // the same outcomes as a read that got nothing
    return;
  }
  stream_.async_read_some(buffer_.prepare(read_chunk()),
                          boost::beast::bind_front_handler(&session::on_first_bytes, shared_this()));
}

template <class Stream>
void session<Stream>::on_first_bytes(boost::system::error_code ec, std::size_t n) {
  read_ = read_state::none;
  if (closed_) {
    return;
  }
  if (lingering_) {
    linger_next(ec, n);
    return;
  }
  read_deadline_ = never();
  if (ec) {
    on_read_error(ec);
    return;
  }
  buffer_.commit(n);
  if (state_->draining()) {
    read_stopped_ = true;
    if (slots_.empty()) {
      close_now();
    }
    return;
  }
  start_request();
}

template <class Stream>
void session<Stream>::start_request() {
  read_ = read_state::receiving;
  request_start_ = clock::now();
  read_deadline_ = request_start_ + lim_.read_timeout;
  set_deadline();
  parser_.emplace();
  parser_->header_limit(lim_.max_header_bytes);
  parser_->body_limit(lim_.max_body_bytes);
  boost::beast::http::async_read(stream_, buffer_, *parser_,
                                 boost::beast::bind_front_handler(&session::on_read, shared_this()));
}

template <class Stream>
void session<Stream>::on_read(boost::system::error_code ec, std::size_t n) {
  read_ = read_state::none;
  if (closed_) {
    return;
  }
  if (lingering_) {
    linger_next(ec, n);
    return;
  }
  read_deadline_ = never();
  if (ec) {
    on_read_error(ec);
    return;
  }
  // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is malformed.
  const std::size_t hosts = parser_->get().count(boost::beast::http::field::host);
  if (hosts > 1 || (hosts == 0 && parser_->get().version() >= 11)) {
    queue_error(boost::beast::http::status::bad_request);
    return;
  }
  dispatch_request();
  do_read();
}

template <class Stream>
void session<Stream>::on_read_error(boost::system::error_code ec) {
  namespace bh = boost::beast::http;
  if (ec == boost::asio::error::eof || ec == bh::error::end_of_stream ||
      ec == bh::error::partial_message || stream_ops<Stream>::end_of_input(ec)) {
    // The peer finished sending; answer what was read, then close.
    read_stopped_ = true;
    if (slots_.empty()) {
      close_now();
    }
    return;
  }
  if (ec == bh::error::header_limit) {
    queue_error(bh::status::request_header_fields_too_large);
  } else if (ec == bh::error::body_limit) {
    queue_error(bh::status::payload_too_large);
  } else if (ec == bh::error::buffer_overflow) {
    queue_error(parser_ && parser_->is_header_done() ? bh::status::payload_too_large
                                                     : bh::status::request_header_fields_too_large);
  } else if (ec.category() == bh::make_error_code(bh::error::bad_target).category()) {
    queue_error(bh::status::bad_request);
  } else {
    close_now();  // transport error: nobody to answer
  }
}

template <class Stream>
std::uint32_t session<Stream>::push_slot() {
  slots_.emplace_back();
  return head_ + static_cast<std::uint32_t>(slots_.size() - 1);
}

template <class Stream>
void session<Stream>::queue_error(boost::beast::http::status status) {
  read_stopped_ = true;
  slot& s = slot_at(push_slot());
  s.res = make_status_response(status);
  s.ready = true;
  s.keep_alive = false;
  s.head = false;
  s.final = false;
  s.version = 11;
  s.start = request_start_;
  if (state_->access_log) {
    if (parser_ && parser_->is_header_done()) {
      const auto& msg = parser_->get();
      s.method.assign(msg.method_string().data(), msg.method_string().size());
      s.path.assign(target_path(std::string_view(msg.target().data(), msg.target().size())));
    } else {
      s.method.assign("-");
      s.path.assign("-");
    }
  }
  do_write();
}

template <class Stream>
void session<Stream>::dispatch_request() {
  const auto& msg = parser_->get();
  const std::uint32_t idx = push_slot();
  slot& s = slot_at(idx);
  s.ready = false;
  s.final = false;
  s.keep_alive = msg.keep_alive();
  s.head = msg.method() == boost::beast::http::verb::head;
  s.version = msg.version();
  s.start = request_start_;
  if (state_->access_log) {
    s.method.assign(msg.method_string().data(), msg.method_string().size());
    s.path.assign(target_path(std::string_view(msg.target().data(), msg.target().size())));
  }
  if (!s.keep_alive) {
    read_stopped_ = true;
  }
  if (handlers_++ == 0) {
    self_ = shared_this();
  }
  state_->request_started();
  // Two words, trivially copyable: std::function stores it without allocating.
  respond done = [this, idx](response res) { complete(idx, std::move(res)); };
  state_->handler->handle(parser_->release(), ctx_, std::move(done));
}

template <class Stream>
void session<Stream>::complete(std::uint32_t idx, response&& res) {
  // Any thread. self_ keeps the session alive until on_response has run.
  boost::asio::dispatch(stream_.get_executor(), [this, idx, res = std::move(res)]() mutable {
    on_response(idx, std::move(res));
  });
}

template <class Stream>
void session<Stream>::on_response(std::uint32_t idx, response&& res) {
  std::shared_ptr<session> hold;  // may be the last reference; dropped on return
  if (--handlers_ == 0) {
    hold = std::move(self_);
  }
  state_->request_finished();
  if (closed_ || lingering_) {
    return;
  }
  slot& s = slot_at(idx);
  s.res = std::move(res);
  s.ready = true;
  do_write();
}

template <class Stream>
void session<Stream>::finish_response(slot& s, bool keep_alive) {
  namespace bh = boost::beast::http;
  response& res = s.res;
  if (res.result_int() < 200) {
    res = make_status_response(bh::status::internal_server_error);  // handler bug: not final
  }
  res.version(11);
  res.keep_alive(keep_alive);
  if (keep_alive && s.version == 10) {
    res.set(bh::field::connection, "keep-alive");
  }
  res.set(bh::field::server, "athmd");
  if (res.count(bh::field::transfer_encoding) != 0) {
    res.erase(bh::field::transfer_encoding);
  }
  const unsigned code = res.result_int();
  if (code == 204 || code == 304) {
    res.body().clear();
    res.erase(bh::field::content_length);
  } else {
    res.content_length(res.body().size());
    if (s.head) {
      res.body().clear();
    }
  }
}

template <class Stream>
void session<Stream>::do_write() {
  namespace bh = boost::beast::http;
  if (writing_ || closed_ || lingering_ || slots_.empty()) {
    return;
  }
  slot& s = slots_.front();
  if (!s.ready) {
    return;
  }
  bool keep = s.keep_alive;
  if (keep && s.res.count(bh::field::connection) != 0 &&
      bh::token_list{s.res[bh::field::connection]}.exists("close")) {
    keep = false;  // the handler asked to close
  }
  if (keep && slots_.size() == 1 &&
      (read_stopped_ || (state_->draining() && read_ != read_state::receiving))) {
    keep = false;  // last response owed and no further request will be served
  }
  finish_response(s, keep);
  s.final = !keep;
  writing_ = true;
  write_deadline_ = clock::now() + lim_.write_timeout;
  set_deadline();
  bh::async_write(stream_, s.res, boost::beast::bind_front_handler(&session::on_write, shared_this()));
}

template <class Stream>
void session<Stream>::on_write(boost::system::error_code ec, std::size_t n) {
  writing_ = false;
  write_deadline_ = never();
  if (closed_) {
    return;
  }
  if (ec) {
    close_now();
    return;
  }
  slot& s = slots_.front();
  if (state_->access_log) {
    log_access(s, n);
  }
  const bool final = s.final;
  slots_.pop_front();
  ++head_;
  if (final) {
    start_linger();
    return;
  }
  if (!slots_.empty()) {
    do_write();
  } else if (read_stopped_ || (state_->draining() && read_ != read_state::receiving)) {
    start_linger();  // a drain or end of input arrived while this response was in flight
    return;
  } else if (read_ == read_state::awaiting) {
    read_deadline_ = clock::now() + lim_.idle_timeout;
    set_deadline();
  }
  do_read();  // resumes reading if it paused at the pipelining cap
}

template <class Stream>
void session<Stream>::log_access(const slot& s, std::size_t bytes) {
  access_entry e;
  e.listener = state_->name;
  e.method = s.method;
  e.path = s.path;
  e.status = s.res.result_int();
  e.bytes_sent = bytes;
  e.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - s.start);
  e.remote_address = ctx_.remote_address;
  e.remote_port = ctx_.remote_port;
  state_->access_log(e);
}

template <class Stream>
void session<Stream>::start_linger() {
  lingering_ = true;
  read_stopped_ = true;
  if constexpr (stream_ops<Stream>::protocol_shutdown) {
    read_deadline_ = clock::now() + k_linger_timeout;
    set_deadline();
    if (read_ == read_state::none) {
      start_protocol_shutdown();
    } else {
      // A shutdown both reads and writes, so it must not overlap a read:
      // the read completes (aborted) and linger_next starts the shutdown.
      stream_ops<Stream>::cancel(stream_);
    }
  } else {
    boost::system::error_code ec;
    stream_ops<Stream>::shutdown_send(stream_, ec);
    if (ec) {
      close_now();
      return;
    }
    read_deadline_ = clock::now() + k_linger_timeout;
    set_deadline();
    if (read_ == read_state::none) {
      linger_read();
    }
    // Otherwise the outstanding read's completion continues the linger.
  }
}

template <class Stream>
void session<Stream>::start_protocol_shutdown() {
  if constexpr (stream_ops<Stream>::protocol_shutdown) {
    stream_ops<Stream>::async_shutdown(
        stream_, boost::beast::bind_front_handler(&session::on_protocol_shutdown, shared_this()));
  }
}

template <class Stream>
void session<Stream>::on_protocol_shutdown(boost::system::error_code) {
  // Whatever the outcome (done, peer gone, peer sent data instead), the
  // connection is over.
  close_now();
}

template <class Stream>
void session<Stream>::linger_next(boost::system::error_code ec, std::size_t n) {
  if constexpr (stream_ops<Stream>::protocol_shutdown) {
    start_protocol_shutdown();  // the read cancelled by start_linger has completed
    return;
  }
  lingered_ += n;
  if (ec || lingered_ >= k_linger_max_bytes) {
    close_now();
    return;
  }
  linger_read();
}

template <class Stream>
void session<Stream>::linger_read() {
  buffer_.consume(buffer_.size());
  read_ = read_state::awaiting;
  stream_.async_read_some(buffer_.prepare(std::min(k_min_read_bytes, buffer_.max_size())),
                          boost::beast::bind_front_handler(&session::on_linger, shared_this()));
}

template <class Stream>
void session<Stream>::on_linger(boost::system::error_code ec, std::size_t n) {
  read_ = read_state::none;
  if (closed_) {
    return;
  }
  linger_next(ec, n);
}

template <class Stream>
void session<Stream>::close_now() noexcept {
  if (closed_) {
    return;
  }
  closed_ = true;
  stream_ops<Stream>::close(stream_);
  timer_.cancel();
  ticket_.release();
  parser_.reset();
  for (auto& s : slots_) {
    s.res = response{};
  }
}

template <class Stream>
void session<Stream>::set_deadline() {
  const auto next = std::min(read_deadline_, write_deadline_);
  if (next < timer_expiry_) {
    timer_expiry_ = next;
    if (timer_.expires_at(next) > 0) {
      wait_timer();
    }
    // else: a completion is already queued; on_timer re-arms from the deadlines.
  }
}

template <class Stream>
void session<Stream>::wait_timer() {
  timer_.async_wait(boost::beast::bind_front_handler(&session::on_timer, shared_this()));
}

template <class Stream>
void session<Stream>::on_timer(boost::system::error_code ec) {
  if (ec == boost::asio::error::operation_aborted || closed_) {
    return;  // re-armed by set_deadline, or closing
  }
  const auto now = clock::now();
  if (read_deadline_ <= now || write_deadline_ <= now) {
    close_now();
    return;
  }
  timer_expiry_ = std::min({read_deadline_, write_deadline_, now + tick_});
  timer_.expires_at(timer_expiry_);
  wait_timer();
}

extern template class session<boost::asio::ip::tcp::socket>;

}  // namespace athm::http
