#include "scanner/report_identity.h"

#include "collectors/fingerprint/signatures.h"

namespace tlsaudit::scanner {

void identifyFromReport(const tlsaudit::v1::TlsReport& report, tlsaudit::v1::Asset& asset,
                        tlsaudit::v1::Service& service) {
  service.set_tls(report.reachable() && report.versions_size() > 0);
  if (service.protocol().empty() && service.tls()) service.set_protocol("tls");
  collectors::fingerprint::Evidence ev;
  ev.sys_object_id = asset.sys_object_id();
  ev.sys_descr = asset.sys_descr();
  const auto& app = report.application();
  ev.sip_agent = !app.sip_user_agent().empty() ? app.sip_user_agent() : app.sip_server();
  if (report.chains_size() > 0 && report.chains(0).certificates_size() > 0) {
    ev.cert_subject = report.chains(0).certificates(0).subject();
  }
  if (!ev.sip_agent.empty()) service.set_product(ev.sip_agent);
  if (service.tls()) {
    bool known = false;
    for (const auto& d : asset.discovered_by()) known = known || d == "tls";
    if (!known) asset.add_discovered_by("tls");
  }
  if (auto id = collectors::fingerprint::SignatureDb::builtin().identify(ev)) {
    collectors::fingerprint::applyIdentification(*id, asset);
  }
}

}  // namespace tlsaudit::scanner
