// When the sweep may remove a connection: closed, and quiet for the close
// timeout by the data plane's clock.
#include "elb/conn_sweep.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace sfc::elb {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

elb_conn Conn(uint8_t state, uint64_t seen_ns) {
  elb_conn c{};
  c.state = state;
  c.seen_ns = seen_ns;
  return c;
}

TEST(ConnSweep, OnlyClosedConnectionsQuietForTheTimeout) {
  const uint64_t now = 1000 * kSec;
  EXPECT_FALSE(ClosedAndQuiet(Conn(0, 0), now, 10 * kSec)) << "open, however old";
  EXPECT_FALSE(ClosedAndQuiet(Conn(ELB_CONN_F_SYN | ELB_CONN_F_FIN_CLIENT, 0), now, 10 * kSec))
      << "half-closed";
  EXPECT_FALSE(ClosedAndQuiet(Conn(ELB_CONN_F_CLOSED, now - 9 * kSec), now, 10 * kSec));
  EXPECT_TRUE(ClosedAndQuiet(Conn(ELB_CONN_F_CLOSED, now - 10 * kSec), now, 10 * kSec));
  EXPECT_TRUE(ClosedAndQuiet(Conn(ELB_CONN_F_CLOSED | ELB_CONN_F_SYN, 0), now, 10 * kSec));
  // Stamped by a packet on another CPU after we read the clock: not quiet.
  EXPECT_FALSE(ClosedAndQuiet(Conn(ELB_CONN_F_CLOSED, now + 5), now, 10 * kSec));
}

TEST(ConnSweep, ReverseKeyIsTheRepliesTuple) {
  elb_flow_key k{};
  k.saddr[0] = inet_addr("192.0.2.1");
  k.daddr[0] = inet_addr("10.0.0.100");
  k.sport = htons(40000);
  k.dport = htons(80);
  k.proto = IPPROTO_TCP;
  k.family = 4;
  elb_backend be{};
  be.addr[0] = inet_addr("10.0.1.2");
  be.port = htons(8080);
  elb_flow_key rk = ReverseKeyOf(k, be);
  EXPECT_EQ(rk.saddr[0], inet_addr("10.0.1.2"));
  EXPECT_EQ(rk.daddr[0], inet_addr("192.0.2.1"));
  EXPECT_EQ(rk.sport, htons(8080));
  EXPECT_EQ(rk.dport, htons(40000));
  EXPECT_EQ(rk.proto, IPPROTO_TCP);
  EXPECT_EQ(rk.family, 4);
  be.port = 0;  // all-ports service: the backend answers from the client's destination port
  EXPECT_EQ(ReverseKeyOf(k, be).sport, htons(80));
}

}  // namespace
}  // namespace sfc::elb
