#pragma once
// RawH2Client: a hand-written HTTP/2 client on a loopback TCP socket that opens gRPC
// server-streaming calls and never grants the server any flow-control window
// (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE): every message the server writes on those
// streams stays blocked, like a KEDA operator that stopped reading. It answers SETTINGS and
// PING (so the connection itself stays healthy) and records which streams got response
// headers (gRPC sends them with the first message, so a stream with headers has a write
// blocked). Test-only; no HPACK decoding, no Huffman.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace nimscaler::testing {

class RawH2Client {
 public:
  explicit RawH2Client(int port) : port_(port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    std::string settings;
    AppendSetting(&settings, 0x2, 0);  // ENABLE_PUSH off
    AppendSetting(&settings, 0x4, 0);  // INITIAL_WINDOW_SIZE 0: the server may send no DATA
    AppendFrame(&out, 0x4, 0, 0, settings);
    Send(out);
    reader_ = std::thread([this] { Read(); });
  }
  ~RawH2Client() {
    if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) close(fd_);
  }

  bool connected() const { return fd_ >= 0; }

  /// Opens a call of `path` (e.g. "/pkg.Service/Method") with `request` (a serialized message)
  /// as its only message. Returns the stream id.
  uint32_t OpenCall(const std::string& path, const std::string& request) {
    uint32_t id = next_id_;
    next_id_ += 2;
    std::string headers;
    AppendHeader(&headers, ":method", "POST");
    AppendHeader(&headers, ":scheme", "http");
    AppendHeader(&headers, ":path", path);
    AppendHeader(&headers, ":authority", "127.0.0.1:" + std::to_string(port_));
    AppendHeader(&headers, "content-type", "application/grpc");
    AppendHeader(&headers, "te", "trailers");
    std::string data(1, '\0');  // not compressed
    uint32_t n = static_cast<uint32_t>(request.size());
    for (int shift = 24; shift >= 0; shift -= 8) data += static_cast<char>((n >> shift) & 0xff);
    data += request;
    std::string out;
    AppendFrame(&out, 0x1, 0x4, id, headers);  // HEADERS, END_HEADERS
    AppendFrame(&out, 0x0, 0x1, id, data);     // DATA, END_STREAM
    Send(out);
    return id;
  }

  /// A setting the server sent (e.g. 0x3, SETTINGS_MAX_CONCURRENT_STREAMS), if it did.
  std::optional<uint32_t> server_setting(uint16_t id) const {
    std::lock_guard lock(mu_);
    auto it = settings_.find(id);
    if (it == settings_.end()) return std::nullopt;
    return it->second;
  }

  /// Streams that received response headers.
  size_t streams_with_headers() const {
    std::lock_guard lock(mu_);
    return with_headers_.size();
  }

  /// Waits until `n` streams have response headers, or `timeout`.
  bool WaitForHeaders(size_t n, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (streams_with_headers() < n) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  static void AppendFrame(std::string* out, uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
    uint32_t len = static_cast<uint32_t>(payload.size());
    out->push_back(static_cast<char>((len >> 16) & 0xff));
    out->push_back(static_cast<char>((len >> 8) & 0xff));
    out->push_back(static_cast<char>(len & 0xff));
    out->push_back(static_cast<char>(type));
    out->push_back(static_cast<char>(flags));
    for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((stream >> shift) & 0xff));
    *out += payload;
  }
  static void AppendSetting(std::string* out, uint16_t id, uint32_t value) {
    out->push_back(static_cast<char>(id >> 8));
    out->push_back(static_cast<char>(id & 0xff));
    for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
  // HPACK "literal header field without indexing, new name", lengths below 127, no Huffman.
  static void AppendHeader(std::string* out, const std::string& name, const std::string& value) {
    out->push_back('\0');
    out->push_back(static_cast<char>(name.size()));
    *out += name;
    out->push_back(static_cast<char>(value.size()));
    *out += value;
  }

  void Send(const std::string& bytes) {
    std::lock_guard lock(write_mu_);
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  bool ReadExactly(char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = recv(fd_, buf + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }

  void Read() {
    while (true) {
      char h[9];
      if (!ReadExactly(h, 9)) return;
      uint32_t len = (uint32_t(uint8_t(h[0])) << 16) | (uint32_t(uint8_t(h[1])) << 8) | uint8_t(h[2]);
      uint8_t type = static_cast<uint8_t>(h[3]), flags = static_cast<uint8_t>(h[4]);
      uint32_t stream = ((uint32_t(uint8_t(h[5])) << 24) | (uint32_t(uint8_t(h[6])) << 16) |
                         (uint32_t(uint8_t(h[7])) << 8) | uint8_t(h[8])) &
                        0x7fffffff;
      std::string payload(len, '\0');
      if (len > 0 && !ReadExactly(payload.data(), len)) return;
      if (type == 0x4 && !(flags & 0x1)) {  // SETTINGS: record, acknowledge
        {
          std::lock_guard lock(mu_);
          for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
            uint16_t id = static_cast<uint16_t>((uint8_t(payload[i]) << 8) | uint8_t(payload[i + 1]));
            uint32_t v = 0;
            for (size_t b = 2; b < 6; ++b) v = (v << 8) | uint8_t(payload[i + b]);
            settings_[id] = v;
          }
        }
        std::string ack;
        AppendFrame(&ack, 0x4, 0x1, 0, "");
        Send(ack);
      } else if (type == 0x6 && !(flags & 0x1)) {  // PING: answer
        std::string pong;
        AppendFrame(&pong, 0x6, 0x1, 0, payload);
        Send(pong);
      } else if (type == 0x1) {  // HEADERS
        std::lock_guard lock(mu_);
        with_headers_.insert(stream);
      }
    }
  }

  int port_;
  int fd_ = -1;
  uint32_t next_id_ = 1;
  std::mutex write_mu_;
  mutable std::mutex mu_;
  std::set<uint32_t> with_headers_;
  std::map<uint16_t, uint32_t> settings_;
  std::thread reader_;
};

}  // namespace nimscaler::testing
