#include "noop/module.h"

#include "noop.skel.h"

namespace sfc {
namespace {

class NoopObject : public VnfObject {
 public:
  explicit NoopObject(sfc_noop* skel) : skel_(skel) {}
  ~NoopObject() override { sfc_noop__destroy(skel_); }
  bpf_object* object() override { return skel_->obj; }
  bpf_program* program() override { return skel_->progs.sfc_noop; }

 private:
  sfc_noop* skel_;
};

class NoopModule : public VnfModule {
 public:
  std::string_view type() const override { return "noop"; }

  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    if (!config.empty())
      return InvalidArgument(path + "/" + config.begin().key() + ": noop takes no configuration");
    return Status::Ok();
  }

  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo&,
                                          const nlohmann::json&) const override {
    sfc_noop* skel = sfc_noop__open();
    if (!skel) return ErrnoStatus("opening noop object", errno);
    return std::unique_ptr<VnfObject>(std::make_unique<NoopObject>(skel));
  }
};

}  // namespace

std::unique_ptr<VnfModule> MakeNoopModule() { return std::make_unique<NoopModule>(); }

}  // namespace sfc
