#include "support/app_stamp.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "app_stamp.skel.h"
#include "support/chain_fixture.h"
#include "tools/app_stamp.h"

namespace sfc::test {
namespace {

class AppStampObject : public VnfObject {
 public:
  explicit AppStampObject(sfc_app_stamp* skel) : skel_(skel) {}
  ~AppStampObject() override { sfc_app_stamp__destroy(skel_); }
  bpf_object* object() override { return skel_->obj; }
  bpf_program* program() override { return skel_->progs.sfc_app_stamp; }

 private:
  sfc_app_stamp* skel_;
};

class AppStampModule : public VnfModule {
 public:
  std::string_view type() const override { return "app_stamp"; }

  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    if (!config.empty())
      return InvalidArgument(path + "/" + config.begin().key() +
                             ": app_stamp takes no configuration");
    return Status::Ok();
  }

  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo&,
                                          const nlohmann::json&) const override {
    sfc_app_stamp* skel = sfc_app_stamp__open();
    if (!skel) return ErrnoStatus("opening app_stamp object", errno);
    return std::unique_ptr<VnfObject>(std::make_unique<AppStampObject>(skel));
  }
};

}  // namespace

std::unique_ptr<VnfModule> MakeAppStampModule() { return std::make_unique<AppStampModule>(); }

Status SetStampedApp(const LoadedChain& chain, const std::string& vnf, uint16_t app,
                     uint8_t app_category) {
  SFC_ASSIGN_OR_RETURN(UniqueFd fd, chain.OpenMap(vnf, "app"));
  uint32_t zero = 0;
  app_stamp v{};
  v.app = app;
  v.app_category = app_category;
  if (bpf_map_update_elem(fd.get(), &zero, &v, BPF_ANY))
    return ErrnoStatus("writing the app_stamp map of " + vnf, errno);
  return Status::Ok();
}

}  // namespace sfc::test
