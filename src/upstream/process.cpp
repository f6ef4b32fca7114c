#include "upstream/process.hpp"
#include "common/scope_exit.hpp"

#include <openssl/crypto.h>

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

/// The child's stdin, stdout and stderr, and the pipe that reports a failed exec.
struct Pipes {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int exec[2] = {-1, -1};  // reports exec failure from the child

  void close_all() noexcept {
    for (int* p : {in, out, err, exec}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  }
};

/// Opens every pipe (close-on-exec). Returns false with `error` set, and none left open, if
/// one could not be made.
bool open_pipes(Pipes& p, std::string& error) {
  if (::pipe2(p.in, O_CLOEXEC) != 0 || ::pipe2(p.out, O_CLOEXEC) != 0 ||
      ::pipe2(p.err, O_CLOEXEC) != 0 || ::pipe2(p.exec, O_CLOEXEC) != 0) {
    error = fmt::format("pipe: {}", std::strerror(errno));
    p.close_all();
    return false;
  }
  return true;
}

/// The server's environment: ours, with the server's `env` added (and winning), the caller's
/// own values in place of its `${user:NAME}`.
std::vector<std::string> child_env(const config::ServerConfig& server,
                                   const std::map<std::string, std::string>& user_values) {
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
    env_strings.push_back(k + "=" +
                          (server.user_secrets.empty() ? v : config::fill_user_refs(v, user_values)));
  }
  return env_strings;
}

/// The command and its args.
std::vector<std::string> child_argv(const config::ServerConfig& server) {
  std::vector<std::string> argv_strings;
  argv_strings.push_back(server.command);
  argv_strings.insert(argv_strings.end(), server.args.begin(), server.args.end());
  return argv_strings;
}

/// Pointers to `strings`, ending with a null pointer, as execvp and environ want them.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

/// In the forked child: joins its own process group, wires up the pipes and execs the server.
/// Only async-signal-safe calls. Never returns; a failed chdir or exec is reported on the exec
/// pipe.
[[noreturn]] void exec_child(const config::ServerConfig& server, const Pipes& p, pid_t parent,
                             char** argv, char** envp) {
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
  ::dup2(p.in[0], 0);
  ::dup2(p.out[1], 1);
  ::dup2(p.err[1], 2);
  // Nothing else of ours leaks into the server: not the listening socket, not client
  // connections, not other servers' pipes. The exec-error pipe stays (it is close-on-exec).
  ::close_range(3, static_cast<unsigned>(p.exec[1]) - 1, 0);
  ::close_range(static_cast<unsigned>(p.exec[1]) + 1, ~0U, 0);
  int rc = 0;
  if (!server.cwd.empty() && ::chdir(server.cwd.c_str()) != 0) {
    rc = errno;
    (void)!::write(p.exec[1], "c", 1);
    (void)!::write(p.exec[1], &rc, sizeof rc);
    ::_exit(127);
  }
  environ = envp;  // execvp searches the child's own PATH
  ::execvp(argv[0], argv);
  rc = errno;
  (void)!::write(p.exec[1], "e", 1);
  (void)!::write(p.exec[1], &rc, sizeof rc);
  ::_exit(127);
}

}  // namespace

bool spawn(const config::ServerConfig& server, ChildProcess& out, std::string& error,
           const std::map<std::string, std::string>& user_values) {
  Pipes p;
  if (!open_pipes(p, error)) {
    return false;
  }

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<std::string> env_strings = child_env(server, user_values);
  // A user's values are wiped from this process once the child has its copy.
  auto wipe = scope_exit([&] {
    if (!server.user_secrets.empty()) {
      for (auto& s : env_strings) {
        OPENSSL_cleanse(s.data(), s.size());
      }
    }
  });
  std::vector<char*> envp = c_strings(env_strings);
  std::vector<std::string> argv_strings = child_argv(server);
  std::vector<char*> argv = c_strings(argv_strings);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    error = fmt::format("fork: {}", std::strerror(errno));
    p.close_all();
    return false;
  }
  if (pid == 0) {
    exec_child(server, p, parent, argv.data(), envp.data());
  }

  // Parent. Whether exec worked is read later, without blocking (read_exec_status).
  ::setpgid(pid, pid);  // also here, so kill_group works even before the child runs
  close_fd(p.in[0]);
  close_fd(p.out[1]);
  close_fd(p.err[1]);
  close_fd(p.exec[1]);
  out.pid = pid;
  out.stdin_fd = p.in[1];
  out.stdout_fd = p.out[0];
  out.stderr_fd = p.err[0];
  out.exec_fd = p.exec[0];
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
