"""PENDING MERGE of branch compat-api -- the one place that tolerates its absence; delete this file
and its uses after the merge.

Branch compat-api writes, in e3gen proper, the e3nn 0.6.0 API e3gen lacked (e3gen.io with
CartesianTensor, S2 grids, Norm, ReducedTensorProducts, ...). The compat namespace re-exports it
dynamically; until it is merged, tests that need it skip with this reason.
"""

import importlib.util

MERGED = importlib.util.find_spec("e3gen.io") is not None
REASON = "PENDING MERGE: e3gen.io and the rest of e3nn's API come from branch compat-api"
