#include "elb/neigh.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/fd.h"

namespace sfc::elb {

Result<std::map<IpAddr, MacAddr>> ReadNeighbours() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return ErrnoStatus("opening rtnetlink socket", errno);
  struct {
    nlmsghdr nh;
    ndmsg nd;
  } req{};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETNEIGH;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.nd.ndm_family = AF_UNSPEC;
  if (::send(fd.get(), &req, sizeof(req), 0) < 0) return ErrnoStatus("RTM_GETNEIGH", errno);

  std::map<IpAddr, MacAddr> out;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("reading neighbour dump", errno);
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len);
         nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) return out;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(nh));
        return ErrnoStatus("neighbour dump", e->error);
      }
      if (nh->nlmsg_type != RTM_NEWNEIGH) continue;
      auto* nd = static_cast<ndmsg*>(NLMSG_DATA(nh));
      if (nd->ndm_state == NUD_NONE || (nd->ndm_state & (NUD_INCOMPLETE | NUD_FAILED))) continue;
      if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) continue;
      std::optional<IpAddr> addr;
      std::optional<MacAddr> mac;
      int alen = static_cast<int>(NLMSG_PAYLOAD(nh, sizeof(*nd)));
      for (auto* rta =
               reinterpret_cast<rtattr*>(reinterpret_cast<char*>(nd) + NLMSG_ALIGN(sizeof(*nd)));
           RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
        size_t plen = RTA_PAYLOAD(rta);
        if (rta->rta_type == NDA_DST) {
          IpAddr a;
          a.family = nd->ndm_family == AF_INET ? 4 : 6;
          if (plen != (a.family == 4 ? 4u : 16u)) continue;
          std::memcpy(a.bytes.data(), RTA_DATA(rta), plen);
          addr = a;
        } else if (rta->rta_type == NDA_LLADDR && plen == 6) {
          MacAddr m;
          std::memcpy(m.data(), RTA_DATA(rta), 6);
          mac = m;
        }
      }
      if (addr && mac) out[*addr] = *mac;
    }
  }
}

}  // namespace sfc::elb
