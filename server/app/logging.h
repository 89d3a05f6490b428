// Logging for the daemon: spdlog on stderr, as human-readable text or as
// JSON lines, plus the access log fed by the transport's access hook.
//
// Never log a token, a key or a request body: nothing here receives one
// (the access entry carries method, path without query, status, sizes,
// timing and the peer address only).
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "config/config.h"
#include "server/http/access_log.h"

namespace athm::app {

// Builds the default logger ("athmd") and the access logger ("access"),
// both writing to stderr in cfg.format at cfg.level, and installs the first
// as spdlog's default. Main log lines are written at once; access lines are
// buffered and flushed every cfg.access_log_flush (at once when that is 0).
// Start-up only (replaces any previous set-up). Throws spdlog::spdlog_ex on
// failure.
void configure_logging(const config::logging_config& cfg);

// Writes every pending log line (the buffered access log). Call before exit.
void flush_logs() noexcept;

// The access logger configured above (a no-op logger before that).
std::shared_ptr<spdlog::logger> access_logger();

// A hook that logs one line per completed request at info level, or an
// empty hook when cfg.access_log is false.
http::access_log_hook make_access_log_hook(const config::logging_config& cfg);

// The text form of an access entry:
//   public 127.0.0.1:51234 "GET /readyz" 200 123B 0.412ms
// Client-supplied bytes that are not printable ASCII become '?'.
std::string format_access_text(const http::access_entry& e);

// The JSON members of an access entry, without braces, e.g.
//   "listener":"public","remote":"127.0.0.1","port":51234,"method":"GET",...
std::string format_access_json_fields(const http::access_entry& e);

// Escapes |s| for use inside a JSON string (quotes, backslashes, control
// characters; other bytes are kept, invalid UTF-8 included).
std::string json_escape(std::string_view s);

}  // namespace athm::app
