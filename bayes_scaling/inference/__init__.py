"""Inference: how a fit samples its posterior.

- :mod:`.settings`: the sampler's configuration and the sampling policy's thresholds, as data
  (frozen dataclasses a spec's ``[sampling]`` table can override);
- :mod:`.compiled`: :class:`~.compiled.CompiledModel`, which owns building, compiling, the
  data swap, padding and posterior completion, and the :class:`~.compiled.ModelCache` that
  holds compiled models;
- :mod:`.policy`: the pilot's verdict and :func:`~.policy.plan`, a pure function of the pilot
  and the policy (no clock, no core count, no cache lookup);
- :mod:`.posterior`: the pilot, the plan and the run, one after another;
- :mod:`.refits`: leave-future-out refits on the fit's compiled model, as a sampling wrapper.

This ``__init__`` imports nothing, so that :mod:`bayes_scaling.spec` can read
:mod:`.settings` without a circle.
"""
