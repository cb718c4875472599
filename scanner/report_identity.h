// What a TLS probe tells about the device behind it: the leaf certificate's subject (a Cisco
// phone's CN=SEP<MAC>) and, on SIP over TLS, the User-Agent or Server go through the same
// fingerprint signatures as discovery's evidence. Shared by `tlsaudit scan` and the daemon.
#pragma once

#include "tlsaudit/v1/asset.pb.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::scanner {

// Marks `service` (one of `asset`'s) as TLS when the probe negotiated it, records the SIP
// product, adds "tls" to how the asset was discovered, and applies a matching signature.
void identifyFromReport(const tlsaudit::v1::TlsReport& report, tlsaudit::v1::Asset& asset,
                        tlsaudit::v1::Service& service);

}  // namespace tlsaudit::scanner
