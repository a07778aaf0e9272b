"""Amortized Bayesian LMM (metabeta, re-implemented and extended).

One file per concept:

==================  ==========================================================
``sampling.py``     seeded gamma/beta/Student-t/negative-binomial/LKJ variates
``simulator.py``    priors, parameters and data sets as the issue states;
                    padded ``Batch`` with explicit masks
``parameters.py``   parameter layout, flow coordinates ``phi`` and Jacobians
``standardize.py``  standardization and exact un-standardization (Appendix B)
``likelihood.py``   exact marginal log-likelihood, random effects integrated out
``networks/``       masked set transformer (local, global) + conditional flow
``posterior.py``    flow draws + exact conditional random effects
``importance.py``   importance weights with every Jacobian, PSIS, k-hat, ESS
``conformal.py``    split-conformal endpoint calibration (shipped data structure)
``calibration.py``  calibrating a trained model on simulated sets
``train.py``        ``python -m tabmixr.engines.amortized.train`` (checkpoints, resume)
``realdata.py``     a ``Design`` into a ``Batch``; the trained model's limits
``engine.py``       ``AmortizedEngine`` (not registered until weights ship)
``draws.py``        brms-like summary and ``to_arviz`` of a fit's draws
==================  ==========================================================

Importing this package does not import torch-heavy modules; import the
submodules you need.
"""
