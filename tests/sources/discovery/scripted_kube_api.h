#pragma once
// ScriptedKubeApi: a loopback HTTP/1.1 server on 127.0.0.1 port 0 that plays a Kubernetes
// API server whose answers the test writes byte for byte: the body (and status) of every
// list, the lines every new watch receives, lines pushed to open watches. Watches are held
// open (chunked, never finished) until CloseWatches() or destruction, and lists can be held
// unanswered, so tests can see how a client stops with requests in flight. One thread and
// poll(): hundreds of open connections cost nothing. Unlike FakeKubeApi
// (tests/fakes/fake_kube_api.h) it can send documents of any shape.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace nimscaler::testing {

class ScriptedKubeApi {
 public:
  ScriptedKubeApi() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 1024) != 0) {
      throw std::runtime_error(std::string("ScriptedKubeApi: ") + strerror(errno));
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    if (pipe(wake_) != 0) throw std::runtime_error("ScriptedKubeApi: pipe");
    thread_ = std::thread([this] { Loop(); });
  }
  ~ScriptedKubeApi() {
    stop_.store(true);
    Wake();
    thread_.join();
    for (auto& [fd, c] : conns_) close(fd);
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }

  const std::string& url() const { return url_; }

  /// What every following list answers.
  void SetList(std::string body, int status = 200) {
    std::lock_guard lock(mu_);
    list_body_ = std::move(body);
    list_status_ = status;
  }
  /// Lists are read but never answered while held.
  void HoldLists(bool hold) {
    std::lock_guard lock(mu_);
    hold_lists_ = hold;
  }
  /// The lines (without newline) every new watch gets first; the watch then stays open.
  void SetWatchLines(std::vector<std::string> lines) {
    std::lock_guard lock(mu_);
    watch_lines_ = std::move(lines);
  }
  /// Sends one line to every open watch.
  void Push(const std::string& line) {
    std::lock_guard lock(mu_);
    pushes_.push_back(line);
    Wake();
  }
  /// Ends every open watch (the response is finished and the connection closed).
  void CloseWatches() {
    std::lock_guard lock(mu_);
    ++close_generation_;
    Wake();
  }

  int lists() const { return lists_.load(); }
  int watches() const { return watches_.load(); }
  int open_watches() const { return open_watches_.load(); }
  int open_connections() const { return open_connections_.load(); }

 private:
  struct Conn {
    std::string in;
    bool watch = false;
    bool answered = false;
  };

  void Wake() {
    char b = 1;
    [[maybe_unused]] auto n = write(wake_[1], &b, 1);
  }

  static bool SendAll(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 5000) <= 0) return false;
        continue;
      }
      return false;
    }
    return true;
  }
  static std::string Chunk(const std::string& line) {
    std::string data = line + "\n";
    char size[32];
    snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
  }

  void Drop(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    if (it->second.watch) open_watches_.fetch_sub(1);
    close(fd);
    conns_.erase(it);
    open_connections_.fetch_sub(1);
  }

  // A complete request head arrived on `fd`: answer it (a list) or start a watch.
  void Answer(int fd, Conn& c) {
    size_t sp1 = c.in.find(' ');
    size_t sp2 = c.in.find(' ', sp1 + 1);
    std::string target = c.in.substr(sp1 + 1, sp2 - sp1 - 1);
    c.answered = true;
    if (target.find("watch=1") != std::string::npos) {
      watches_.fetch_add(1);
      open_watches_.fetch_add(1);
      c.watch = true;
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
      std::lock_guard lock(mu_);
      for (const auto& l : watch_lines_) out += Chunk(l);
      SendAll(fd, out);
      return;
    }
    lists_.fetch_add(1);
    std::string body;
    int status;
    {
      std::lock_guard lock(mu_);
      if (hold_lists_) return;  // read, never answered
      body = list_body_;
      status = list_status_;
    }
    std::string out = "HTTP/1.1 " + std::to_string(status) +
                      " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n\r\n" + body;
    SendAll(fd, out);
    Drop(fd);
  }

  void Loop() {
    int seen_generation = 0;
    size_t pushed = 0;
    while (!stop_.load()) {
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (auto& [fd, c] : conns_) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) return;
      if (fds[0].revents & POLLIN) {
        char buf[256];
        [[maybe_unused]] auto n = read(wake_[0], buf, sizeof buf);
      }
      if (fds[1].revents & POLLIN) {
        int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd >= 0) {
          conns_[fd] = Conn{};
          open_connections_.fetch_add(1);
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int fd = fds[i].fd;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
          Drop(fd);
          continue;
        }
        Conn& c = conns_[fd];
        if (c.answered) continue;
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.find("\r\n\r\n") != std::string::npos) Answer(fd, c);
      }
      // Pushed lines and closes, for the open watches.
      std::vector<std::string> lines;
      bool close_all = false;
      {
        std::lock_guard lock(mu_);
        for (; pushed < pushes_.size(); ++pushed) lines.push_back(pushes_[pushed]);
        if (close_generation_ != seen_generation) {
          seen_generation = close_generation_;
          close_all = true;
        }
      }
      std::vector<int> watch_fds;
      for (auto& [fd, c] : conns_) {
        if (c.watch) watch_fds.push_back(fd);
      }
      for (int fd : watch_fds) {
        std::string out;
        for (const auto& l : lines) out += Chunk(l);
        if (close_all) out += "0\r\n\r\n";
        if ((!out.empty() && !SendAll(fd, out)) || close_all) Drop(fd);
      }
    }
  }

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::string url_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::map<int, Conn> conns_;  // only the server thread touches it

  std::mutex mu_;  // guards the script below
  std::string list_body_ = R"({"kind":"EndpointSliceList","metadata":{"resourceVersion":"1"},"items":[]})";
  int list_status_ = 200;
  bool hold_lists_ = false;
  std::vector<std::string> watch_lines_;
  std::vector<std::string> pushes_;
  int close_generation_ = 0;

  std::atomic<int> lists_{0}, watches_{0}, open_watches_{0}, open_connections_{0};
};

}  // namespace nimscaler::testing
