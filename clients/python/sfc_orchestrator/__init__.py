"""sfc_orchestrator: a Python client for sfcd (the sfc.v1 gRPC API) and an
example orchestrator that drives several sfcd instances, one per VM.

The sfc.v1 modules are generated from proto/ by the build (target
sfc_python, into <build>/clients/python/gen); put that directory and this
package's parent on PYTHONPATH."""
from .client import ApplyResult, SfcdClient, SfcdError, chain_to_dict, stats_to_dict
from .orchestrator import Orchestrator, Outcome, Target

__all__ = ["ApplyResult", "Orchestrator", "Outcome", "SfcdClient", "SfcdError", "Target",
           "chain_to_dict", "stats_to_dict"]
