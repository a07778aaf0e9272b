"""Kinship: pedigree relationship matrices (A, A^-1, inbreeding) and genomic ones (G).

* :class:`Pedigree` validates ``(id, sire, dam)`` columns, orders parents
  before offspring and reaches the compiled kernels for inbreeding, ``A^-1``,
  ``A x``, ``A^-1 x``, ``log det A`` and dense ``A``.
* :func:`vanraden_grm` builds VanRaden's (2008) genomic relationship matrix.
* :class:`ObservedPrecision` is ``A[obs, obs]^-1`` as an operator (a Schur
  complement of the sparse ``A^-1``), for priors over the animals with records.
"""

from tabmixr.kinship.grm import vanraden_grm
from tabmixr.kinship.observed import ObservedPrecision
from tabmixr.kinship.ordering import order_pedigree
from tabmixr.kinship.pedigree import Pedigree

__all__ = ["ObservedPrecision", "Pedigree", "order_pedigree", "vanraden_grm"]
