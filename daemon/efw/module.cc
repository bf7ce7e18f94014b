#include "efw/module.h"

#include <grpcpp/server_builder.h>

#include "common/log.h"
#include "efw.skel.h"
#include "efw/config.h"
#include "efw/maps.h"
#include "efw/service.h"
#include "efw/top_rules.h"
#include "engine/bpf_util.h"

namespace sfc {
namespace {

using efw::FirewallConfig;
using efw::FirewallTables;

// Capacity of the classifier match table per rule set: about one entry per
// rule, plus room for nested prefixes and overlapping ranges.
uint32_t MatchCapacity(uint32_t max_rules) { return 4 * max_rules + 4096; }

class EfwObject : public VnfObject {
 public:
  EfwObject(sfc_efw* skel, VnfInstanceInfo info, FirewallConfig cfg)
      : skel_(skel), info_(std::move(info)), cfg_(std::move(cfg)) {}
  ~EfwObject() override { sfc_efw__destroy(skel_); }
  bpf_object* object() override { return skel_->obj; }
  bpf_program* program() override { return skel_->progs.sfc_efw; }
  // Rule tables are rebuilt by Populate(); conntrack, counters and the rule
  // id -> counter slot map carry over.
  bool KeepsState(std::string_view map_name) const override {
    return FirewallTables::IsStateMap(map_name);
  }

  // The rule tables are this generation's own, but the counter slots (rule
  // id -> slot) are shared with the running generation: slots of rules that
  // go are freed only once the new generation is live for good, and slots
  // given to new rules are taken back if it never is.
  Status Populate() override {
    SFC_ASSIGN_OR_RETURN(FirewallTables tables, FirewallTables::FromObject(skel_->obj));
    tables_ = std::make_unique<FirewallTables>(std::move(tables));
    if (auto epoch = FirewallTables::ActiveEpoch(info_.pin_dir); epoch.ok())
      tables_->set_epoch_floor(*epoch);
    SFC_ASSIGN_OR_RETURN(
        efw::InstallStats st,
        tables_->Install(cfg_.rules, cfg_.default_action, FirewallTables::SlotRelease::kDeferred));
    for (const auto& name : st.unresolved_iifs)
      log::Warn("efw.iif_unknown", {{"chain", info_.chain}, {"vnf", info_.name}, {"iif", name}});
    log::Info("efw.rules_installed", {{"chain", info_.chain},
                                      {"vnf", info_.name},
                                      {"rules", std::to_string(st.rules)},
                                      {"groups", std::to_string(st.groups)},
                                      {"match_entries", std::to_string(st.match_entries)},
                                      {"hashed_tables", std::to_string(st.hashed_tables)}});
    return Status::Ok();
  }

  void Committed() override {
    if (!tables_) return;
    if (Status st = tables_->ReleaseStaleSlots(); !st.ok())
      log::Warn("efw.release_slots_failed",
                {{"chain", info_.chain}, {"vnf", info_.name}, {"error", st.message()}});
  }
  void Abandoned() override {
    if (!tables_) return;
    if (Status st = tables_->ReleaseFreshSlots(); !st.ok())
      log::Warn("efw.release_slots_failed",
                {{"chain", info_.chain}, {"vnf", info_.name}, {"error", st.message()}});
  }

 private:
  sfc_efw* skel_;
  VnfInstanceInfo info_;
  FirewallConfig cfg_;
  std::unique_ptr<FirewallTables> tables_;  // after Populate()
};

class EfwModule : public VnfModule {
 public:
  std::string_view type() const override { return "firewall"; }

  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    return efw::ParseFirewallConfig(config, path).status();
  }

  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo& info,
                                          const nlohmann::json& config) const override {
    SFC_ASSIGN_OR_RETURN(FirewallConfig cfg, efw::ParseFirewallConfig(config, "/config"));
    sfc_efw* skel = sfc_efw__open();
    if (!skel)
      return ErrnoStatus("opening firewall object for " + info.chain + "/" + info.name, errno);
    auto obj = std::make_unique<EfwObject>(skel, info, cfg);

    constexpr uint64_t kSec = 1000000000ULL;
    const auto& ct = cfg.conntrack;
    skel->rodata->efw_ct_tcp_syn_ns = ct.tcp_syn_timeout_s * kSec;
    skel->rodata->efw_ct_tcp_est_ns = ct.tcp_established_timeout_s * kSec;
    skel->rodata->efw_ct_tcp_close_ns = ct.tcp_close_timeout_s * kSec;
    skel->rodata->efw_ct_udp_ns = ct.udp_timeout_s * kSec;
    skel->rodata->efw_ct_icmp_ns = ct.icmp_timeout_s * kSec;
    skel->rodata->efw_ct_max = ct.max_entries;

    const uint32_t rules = cfg.max_rules;
    struct {
      bpf_map* map;
      uint32_t entries;
      const char* what;
    } sizes[] = {
        {skel->maps.conntrack, ct.max_entries, "conntrack table"},
        {skel->maps.rule_stats, rules, "rule counters"},
        {skel->maps.rule_ids, rules, "rule ids"},
        // Two rule sets (A/B) live in each table during a switch.
        {skel->maps.src4, 2 * rules, "IPv4 source prefixes"},
        {skel->maps.dst4, 2 * rules, "IPv4 destination prefixes"},
        {skel->maps.src6, 2 * rules, "IPv6 source prefixes"},
        {skel->maps.dst6, 2 * rules, "IPv6 destination prefixes"},
        // Both directions and both sets share a hash; markers at most
        // double the prefixes.
        {skel->maps.pfx4, 8 * rules, "IPv4 prefix hash"},
        {skel->maps.pfx6, 8 * rules, "IPv6 prefix hash"},
        {skel->maps.matches, 2 * MatchCapacity(rules), "classifier table"},
    };
    for (const auto& s : sizes)
      if (int err = bpf_map__set_max_entries(s.map, s.entries))
        return ErrnoStatus("sizing " + std::string(s.what) + " to " + std::to_string(s.entries),
                           err);
    return std::unique_ptr<VnfObject>(std::move(obj));
  }

  void RegisterServices(grpc::ServerBuilder& builder, ChainEngine& engine) override {
    service_ = efw::MakeFirewallService(engine);
    builder.RegisterService(service_.get());
  }

  // Conntrack fill from the data plane's own ct_live count: one lookup.
  std::vector<VnfGauge> Gauges(const VnfInstanceInfo& info) const override {
    std::vector<VnfGauge> out;
    auto live = OpenPinned(info.pin_dir + "/ct_live");
    auto table = OpenPinned(info.pin_dir + "/conntrack");
    if (!live.ok() || !table.ok()) return out;
    uint32_t zero = 0;
    efw_ct_live v{};
    if (bpf_map_lookup_elem(live->get(), &zero, &v) == 0)
      out.push_back({"table_entries",
                     "entries in a VNF table (conntrack, flows)",
                     {{"table", "conntrack"}},
                     static_cast<double>(v.live < 0 ? 0 : v.live)});
    if (auto mi = MapInfo(table->get()); mi.ok())
      out.push_back({"table_capacity",
                     "max_entries of a VNF table",
                     {{"table", "conntrack"}},
                     static_cast<double>(mi->max_entries)});
    for (const auto& r : top_rules_.Get(info.chain, info.name)) {
      out.push_back({"fw_rule_packets_total",
                     "packets matched by one of the busiest rules (top " +
                         std::to_string(kTopRules) + ", refreshed in the background)",
                     {{"rule", r.id}},
                     static_cast<double>(r.counters.packets),
                     /*counter=*/true});
      out.push_back({"fw_rule_bytes_total",
                     "bytes matched by one of the busiest rules (top " + std::to_string(kTopRules) +
                         ", refreshed in the background)",
                     {{"rule", r.id}},
                     static_cast<double>(r.counters.bytes),
                     /*counter=*/true});
    }
    return out;
  }

  void OnInstanceUp(const VnfInstanceInfo& info, const nlohmann::json&) override {
    top_rules_.Track(info);
  }
  void OnInstanceDown(const VnfInstanceInfo& info) override { top_rules_.Untrack(info); }
  void Stop() override { top_rules_.Stop(); }

 private:
  static constexpr size_t kTopRules = 10;
  std::unique_ptr<grpc::Service> service_;
  // The busiest rules of each instance for /metrics: a pass over all counters
  // every 10 s, off the scrape path.
  mutable efw::TopRulesCache top_rules_{std::chrono::seconds(10), kTopRules};
};

}  // namespace

std::unique_ptr<VnfModule> MakeEfwModule() { return std::make_unique<EfwModule>(); }

}  // namespace sfc
