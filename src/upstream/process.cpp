#include "upstream/process.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace mcpgw::upstream {

namespace {

Reaper* g_reaper = nullptr;

void close_fd(int& fd) noexcept {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

}  // namespace

bool spawn(const config::ServerConfig& server, ChildProcess& out, std::string& error) {
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};  // reports exec failure from the child
  auto close_all = [&] {
    for (int* p : {in_pipe, out_pipe, err_pipe, exec_pipe}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    error = fmt::format("pipe: {}", std::strerror(errno));
    close_all();
    return false;
  }

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && server.env.count(std::string(kv.substr(0, eq))) != 0) {
      continue;  // overridden by the server's env
    }
    env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : server.env) {
    env_strings.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings;
  argv_strings.push_back(server.command);
  argv_strings.insert(argv_strings.end(), server.args.begin(), server.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    error = fmt::format("fork: {}", std::strerror(errno));
    close_all();
    return false;
  }
  if (pid == 0) {
    // Child.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphans if the gateway is killed outright
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    // Nothing else of ours leaks into the server: not the listening socket, not client
    // connections, not other servers' pipes. The exec-error pipe stays (it is close-on-exec).
    ::close_range(3, static_cast<unsigned>(exec_pipe[1]) - 1, 0);
    ::close_range(static_cast<unsigned>(exec_pipe[1]) + 1, ~0U, 0);
    int rc = 0;
    if (!server.cwd.empty() && ::chdir(server.cwd.c_str()) != 0) {
      rc = errno;
      (void)!::write(exec_pipe[1], "c", 1);
      (void)!::write(exec_pipe[1], &rc, sizeof rc);
      ::_exit(127);
    }
    environ = envp.data();  // execvp searches the child's own PATH
    ::execvp(argv[0], argv.data());
    rc = errno;
    (void)!::write(exec_pipe[1], "e", 1);
    (void)!::write(exec_pipe[1], &rc, sizeof rc);
    ::_exit(127);
  }

  // Parent. Whether exec worked is read later, without blocking (read_exec_status).
  ::setpgid(pid, pid);  // also here, so kill_group works even before the child runs
  close_fd(in_pipe[0]);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  close_fd(exec_pipe[1]);
  out.pid = pid;
  out.stdin_fd = in_pipe[1];
  out.stdout_fd = out_pipe[0];
  out.stderr_fd = err_pipe[0];
  out.exec_fd = exec_pipe[0];
  return true;
}

std::string describe_exec_failure(const config::ServerConfig& server, const char* report,
                                  std::size_t n) {
  if (n < 1 + sizeof(int)) {
    return {};  // EOF: exec succeeded (the pipe closed on exec)
  }
  int child_errno = 0;
  std::memcpy(&child_errno, report + 1, sizeof child_errno);
  return report[0] == 'c'
             ? fmt::format("cannot enter directory {}: {}", server.cwd, std::strerror(child_errno))
             : fmt::format("cannot run {}: {}", server.command, std::strerror(child_errno));
}

void kill_group(pid_t pid, int sig) noexcept {
  if (pid > 0) {
    ::kill(-pid, sig);
  }
}

void become_subreaper() noexcept { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

std::size_t kill_orphans(pid_t except) noexcept {
  std::size_t killed = 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return 0;
  }
  const pid_t self = ::getpid();
  while (const dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 1 || *end != '\0' || pid == except) {
      continue;
    }
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) {
      continue;
    }
    buf[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const char* close_paren = std::strrchr(buf, ')');
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    if (close_paren == nullptr ||
        std::sscanf(close_paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3 || ppid != self) {
      continue;
    }
    if (pgrp == pid) {
      ::kill(static_cast<pid_t>(-pgrp), SIGKILL);
    }
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    ++killed;
  }
  ::closedir(proc);
  return killed;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) {
    return fmt::format("exited with status {}", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  }
  return "ended";
}

Reaper::Reaper(boost::asio::io_context& ioc) : signals_(ioc, SIGCHLD) { arm(); }

void Reaper::arm() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) {
      return;
    }
    poll();
    arm();
  });
}

void Reaper::watch(pid_t pid, OnExit on_exit) { watched_[pid] = std::move(on_exit); }

void Reaper::forget(pid_t pid) {
  // Nobody wants to hear about it any more, but it must still be reaped: no zombies.
  if (auto it = watched_.find(pid); it != watched_.end()) {
    it->second = nullptr;
  }
  poll();
}

void Reaper::poll() {
  std::vector<std::pair<OnExit, int>> exited;
  // Any child: besides the servers we watch, orphans of their own children are ours to reap
  // (the gateway is their subreaper).
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(-1, &status, WNOHANG);
    if (r <= 0) {
      break;
    }
    if (auto it = watched_.find(r); it != watched_.end()) {
      exited.emplace_back(std::move(it->second), status);
      watched_.erase(it);
    }
  }
  for (auto& [cb, status] : exited) {
    if (cb) {
      cb(status);
    }
  }
}

Reaper& Reaper::instance() { return *g_reaper; }
void Reaper::install(Reaper* reaper) { g_reaper = reaper; }

}  // namespace mcpgw::upstream
