// Failpoints: named places in the daemon where a test can make the next call
// fail, or make the whole process die as if killed, to prove that every
// failure and crash leaves the data plane in a state the daemon can explain.
//
//   SFC_RETURN_IF_ERROR(Failpoint("apply.after_switch"));
//
// Off unless armed, and then a map lookup under a mutex. Armed from tests in
// process (failpoint::Arm) or for a whole sfcd from the environment:
//   SFC_FAILPOINTS="apply.commit=error,apply.after_save=crash"
// `error` makes Failpoint() return an INTERNAL status naming the point;
// `crash` sends SIGKILL to the process (no destructors, no cleanup), as a
// kill -9 or a power cut at that instant would. An optional "@N" suffix arms
// the point for its N-th hit only ("apply.attach=error@2").
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace sfc {

namespace failpoint {
enum class Action { kError, kCrash };
// Arms `name` (replacing any earlier arming); `nth` counts hits from 1, 0 = every hit.
void Arm(std::string_view name, Action action, unsigned nth = 0);
void DisarmAll();
// Parses SFC_FAILPOINTS; an unknown action or bad syntax is an error naming it.
Status ArmFromEnvironment();
}  // namespace failpoint

// OK unless `name` is armed.
Status Failpoint(std::string_view name);

}  // namespace sfc
