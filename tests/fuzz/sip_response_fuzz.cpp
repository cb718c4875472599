// libFuzzer target: parseSipResponse on hostile bytes, and buildSipOptions on hostile fields
// (which must never yield more than one header block).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "collectors/fingerprint/sip_options.h"

namespace {

using tlsaudit::collectors::fingerprint::buildSipOptions;
using tlsaudit::collectors::fingerprint::parseSipResponse;
using tlsaudit::collectors::fingerprint::SipOptionsRequest;

bool printable(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto response = parseSipResponse(std::span<const uint8_t>(data, size));
  if (response) {
    if (response->status_code != 0 && (response->status_code < 100 || response->status_code > 699))
      abort();
    if (response->status_line.empty() || !printable(response->status_line)) abort();
    if (response->user_agent.size() > 256 || !printable(response->user_agent)) abort();
    if (response->server.size() > 256 || !printable(response->server)) abort();
  }

  // The same bytes as request fields: the builder must keep them from forming extra lines.
  std::string_view text(reinterpret_cast<const char*>(data), size);
  SipOptionsRequest request;
  request.target_host = std::string(text.substr(0, size / 2));
  request.local_host = std::string(text.substr(size / 2));
  request.call_id = request.tag = request.branch = request.transport = std::string(text);
  std::string message = buildSipOptions(request);
  if (message.find("\r\n\r\n") != message.size() - 4) abort();
  size_t line_feeds = 0;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') ++line_feeds;
    if ((message[i] == '\n') != (i > 0 && message[i - 1] == '\r')) abort();
  }
  if (line_feeds != 12) abort();  // 11 header lines and the blank line
  return 0;
}
