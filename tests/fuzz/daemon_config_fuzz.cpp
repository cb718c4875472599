// The daemon's configuration as users write it (YAML checked by the schema, ${ENV} expansion,
// -o overrides, schedules, listeners, tokens, alert sinks): any text gives a configuration or
// one error, never a crash or a hang. Lines starting "#o " at the top are -o overrides.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "scanner/daemon/daemon_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  tlsaudit::scanner::ConfigOverrides overrides;
  while (text.rfind("#o ", 0) == 0 && overrides.settings.size() < 8) {
    size_t nl = text.find('\n');
    overrides.settings.push_back(text.substr(3, nl == std::string::npos ? std::string::npos : nl - 3));
    text = nl == std::string::npos ? "" : text.substr(nl + 1);
  }
  overrides.data_dir = "/nonexistent/tlsaudit-fuzz";
  static const std::string path = "/tmp/tlsaudit-config-fuzz-" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  auto env = [](const char* name) -> const char* {
    if (std::strcmp(name, "TOKEN") == 0) return "a-token-of-sufficient-length-1234";
    if (std::strcmp(name, "DSN") == 0) return "host=/tmp dbname=tlsaudit";
    if (std::strcmp(name, "EMPTY") == 0) return "";
    return nullptr;
  };
  auto config = tlsaudit::scanner::loadDaemonConfig(path, overrides, env);
  if (!config.ok() && config.status().message().empty()) __builtin_trap();  // errors say why
  return 0;
}
