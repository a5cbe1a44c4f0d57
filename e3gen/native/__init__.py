"""e3gen's native backend: C++ kernels rendered from the same IR as the Torch ones.

* `build`: render, compile on first use (torch.utils.cpp_extension) and cache by source hash;
* `ops`: the `torch.library` custom ops (`e3gen::channelwise`, `e3gen::channelwise_conv`) with
  fake implementations and autograd formulas (eager, torch.compile and torch.export use them);
* `harmonics`: the spherical harmonics library and its ops (`e3gen::spherical_harmonics` and its
  backward and double backward), built the same way from the IR's recursion steps;
* `output_cache`: the process's cache of freed large outputs (page faults paid once, not per call);
* `backend`: the one place where a layer's `strategy` is resolved to "native" or the Torch kernels.

A second native target (a GPU renderer of the same IR) would be another `build` beside this one
behind the same ops: the ops only need a function per (role, dtype, device).
"""
