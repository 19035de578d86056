"""The compute side: models, prompts, measures, the batched runner, the results store, the stdio
protocol and server, and (torch-free) statistics in ``engine.analysis``.

This package never imports textual. ``engine.protocol``, ``engine.client``, ``engine.store``,
``engine.events``, ``engine.plan``, ``engine.runs``, ``engine.slurm``, ``engine.measure_names``,
``engine.analysis`` and ``engine.lab`` never import torch at load time.
"""
