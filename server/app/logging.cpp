#include "server/app/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <unistd.h>

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "server/app/log_sink.h"

namespace athm::app {
namespace {

std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_access;

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

void append_utc_time(spdlog::memory_buf_t& out, spdlog::log_clock::time_point tp) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  const std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                              static_cast<int>(ms));
  out.append(buf, buf + n);
}

void append(spdlog::memory_buf_t& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

// One JSON object per line. |fields_in_message|: the message already holds
// JSON members (the access log) and is spliced in rather than quoted.
class json_formatter final : public spdlog::formatter {
 public:
  explicit json_formatter(bool fields_in_message) : fields_(fields_in_message) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append(dest, "{\"ts\":\"");
    append_utc_time(dest, msg.time);
    append(dest, "\",\"level\":\"");
    const auto level = spdlog::level::to_string_view(msg.level);
    dest.append(level.data(), level.data() + level.size());
    append(dest, "\",\"logger\":\"");
    append(dest, json_escape(std::string_view(msg.logger_name.data(), msg.logger_name.size())));
    append(dest, "\",");
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (fields_) {
      append(dest, payload);
    } else {
      append(dest, "\"msg\":\"");
      append(dest, json_escape(payload));
      append(dest, "\"");
    }
    append(dest, "}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>(fields_);
  }

 private:
  bool fields_;
};

std::unique_ptr<spdlog::formatter> text_formatter() {
  // 2024-06-01T12:00:00.123Z info  athmd: message
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %-5l %n: %v",
                                                     spdlog::pattern_time_type::utc);
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else if (u >= 0x80) {
          out += '?';  // client bytes: keep the line valid UTF-8
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

void configure_logging(const config::logging_config& cfg) {
  const auto level = spdlog::level::from_str(cfg.level);
  // A formatter belongs to a sink, so each logger has its own sink; both
  // write whole lines to stderr under one lock (fd_sink). The access log is
  // buffered unless access_log_flush is 0.
  constexpr std::size_t kAccessBuffer = 64 * 1024;
  auto main_sink = std::make_shared<fd_sink>(STDERR_FILENO, 0);
  auto access_sink =
      std::make_shared<fd_sink>(STDERR_FILENO, cfg.access_log_flush.count() > 0 ? kAccessBuffer : 0);
  if (cfg.format == config::log_format::json) {
    main_sink->set_formatter(std::make_unique<json_formatter>(false));
    access_sink->set_formatter(std::make_unique<json_formatter>(true));
  } else {
    main_sink->set_formatter(text_formatter());
    access_sink->set_formatter(text_formatter());
  }
  auto main_logger = std::make_shared<spdlog::logger>("athmd", main_sink);
  auto access = std::make_shared<spdlog::logger>("access", access_sink);
  main_logger->set_level(level);
  access->set_level(level);
  // Warnings and errors go out at once; access lines wait for the buffer,
  // the periodic flush below, or flush_logs().
  main_logger->flush_on(spdlog::level::trace);
  access->flush_on(spdlog::level::off);
  spdlog::set_default_logger(main_logger);
  spdlog::drop("access");
  spdlog::register_logger(access);
  if (cfg.access_log_flush.count() > 0) {
    spdlog::flush_every(cfg.access_log_flush);
  }
  std::lock_guard lock(g_mu);
  g_access = access;
}

void flush_logs() noexcept {
  try {
    access_logger()->flush();
    spdlog::default_logger()->flush();
  } catch (...) {
  }
}

std::shared_ptr<spdlog::logger> access_logger() {
  std::lock_guard lock(g_mu);
  if (!g_access) {
    g_access = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  return g_access;
}

std::string format_access_text(const http::access_entry& e) {
  const double ms = static_cast<double>(e.duration.count()) / 1000.0;
  const std::string remote = e.remote_address.is_v6() ? "[" + e.remote_address.to_string() + "]"
                                                      : e.remote_address.to_string();
  char tail[64];
  std::snprintf(tail, sizeof tail, " %u %lluB %.3fms", e.status,
                static_cast<unsigned long long>(e.bytes_sent), ms);
  return printable(e.listener) + " " + remote + ":" + std::to_string(e.remote_port) + " \"" +
         printable(e.method) + " " + printable(e.path) + "\"" + tail;
}

std::string format_access_json_fields(const http::access_entry& e) {
  return "\"listener\":\"" + json_escape(e.listener) + "\",\"remote\":\"" +
         e.remote_address.to_string() + "\",\"port\":" + std::to_string(e.remote_port) +
         ",\"method\":\"" + json_escape(e.method) + "\",\"path\":\"" + json_escape(e.path) +
         "\",\"status\":" + std::to_string(e.status) + ",\"bytes\":" + std::to_string(e.bytes_sent) +
         ",\"duration_us\":" + std::to_string(e.duration.count());
}

http::access_log_hook make_access_log_hook(const config::logging_config& cfg) {
  if (!cfg.access_log) {
    return {};
  }
  const bool json = cfg.format == config::log_format::json;
  auto logger = access_logger();
  return [logger, json](const http::access_entry& e) {
    try {
      if (!logger->should_log(spdlog::level::info)) {
        return;
      }
      logger->info(json ? format_access_json_fields(e) : format_access_text(e));
    } catch (...) {
      // Logging must never take a request down.
    }
  };
}

}  // namespace athm::app
