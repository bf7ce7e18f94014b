// The test-only "app_stamp" VNF (bpf/tools/app_stamp.bpf.c): labels every
// packet with the application in its `app` map, standing in for a dpi VNF so
// that the firewall and the flow monitor can be tested on labelled packets.
// LoadedChain registers it next to the built-in VNFs.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "engine/vnf_module.h"

namespace sfc::test {

std::unique_ptr<VnfModule> MakeAppStampModule();

class LoadedChain;

// Sets the application the app_stamp instance `vnf` of `chain` gives packets.
Status SetStampedApp(const LoadedChain& chain, const std::string& vnf, uint16_t app,
                     uint8_t app_category);

}  // namespace sfc::test
