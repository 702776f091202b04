// netns_hosts_up: creates the primary-nfs / dr-nfs network-namespace ssh hosts (tests/support/
// netns_hosts.h), writes an ocpv-dr config for them and a shell env file, prints "ready", and
// keeps them up until its stdin reaches EOF (or SIGTERM/SIGINT); then tears everything down.
//
// Usage: netns_hosts_up ENV_FILE      (root)
// ENV_FILE gets: CONFIG, PRIMARY_NS, DR_NS, PRIMARY_IP, DR_IP, PRIMARY_EXPORT, DR_EXPORT, WORK
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "support/netns_hosts.h"

int main(int argc, char** argv) {
  using namespace ocpvdr;
  if (argc != 2) {
    std::cerr << "usage: netns_hosts_up ENV_FILE\n";
    return 2;
  }
  // Signals end the wait below; the destructor then tears the hosts down.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  auto hosts = testing::NetnsHosts::create();
  if (!hosts.ok()) {
    std::cerr << "netns_hosts_up: " << hosts.error().describe() << "\n";
    return 1;
  }
  auto& h = **hosts;
  auto cfg = h.config();
  auto configPath = h.writeConfig(cfg);
  std::ofstream env(argv[1]);
  env << "CONFIG=" << configPath.string() << "\n"
      << "PRIMARY_NS=" << h.primary().ns << "\n"
      << "DR_NS=" << h.dr().ns << "\n"
      << "PRIMARY_IP=" << h.primary().ip << "\n"
      << "DR_IP=" << h.dr().ip << "\n"
      << "PRIMARY_EXPORT=" << h.primary().exportDir.string() << "\n"
      << "DR_EXPORT=" << h.dr().exportDir.string() << "\n"
      << "WORK=" << h.dir().string() << "\n";
  env.close();
  std::cout << "ready" << std::endl;

  pollfd fds[1] = {{STDIN_FILENO, POLLIN, 0}};
  while (true) {
    timespec ts{0, 200 * 1000 * 1000};
    if (sigtimedwait(&set, nullptr, &ts) > 0) break;
    if (poll(fds, 1, 0) > 0) {
      char buf[64];
      if (read(STDIN_FILENO, buf, sizeof buf) <= 0) break;
    }
  }
  return 0;
}
