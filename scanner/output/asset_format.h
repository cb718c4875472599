// How discovered assets are printed: a table (one row per device, with vendor/model, where it
// is plugged in and its services) and canonical proto3 JSON of the Asset model.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "tlsaudit/v1/asset.pb.h"

namespace tlsaudit::scanner {

void writeAssetTable(std::ostream& out, const std::vector<tlsaudit::v1::Asset>& assets);
// One line for the scan table: "vendor model (firmware), class, switch port".
std::string assetSummary(const tlsaudit::v1::Asset& asset);
std::string assetToJson(const tlsaudit::v1::Asset& asset, bool pretty);
std::string deviceClassName(tlsaudit::v1::DeviceClass c);

}  // namespace tlsaudit::scanner
