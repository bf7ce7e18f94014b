// The kernel's neighbour table (ARP and NDP), read over rtnetlink: how the
// daemon learns the MAC of a DSR backend configured without one.
#pragma once

#include <map>

#include "common/status.h"
#include "elb/config.h"

namespace sfc::elb {

// Every resolved entry (reachable, stale, delay, probe, permanent), by address.
Result<std::map<IpAddr, MacAddr>> ReadNeighbours();

}  // namespace sfc::elb
