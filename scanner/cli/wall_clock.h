// The wall clock of the CLI commands: "now" for rules and waivers, and the RFC 3339 stamps of
// JSON and SARIF output. One place, so every command reads time the same way.
#pragma once

#include <cstdint>
#include <string>

namespace tlsaudit::scanner {

int64_t nowUnixSeconds();
// e.g. 2026-11-26T21:50:03Z
std::string nowRfc3339();

}  // namespace tlsaudit::scanner
