"""``relmat=``: kin() terms resolved against pedigrees and matrices; every bad input named."""

import numpy as np
import pandas as pd
import pytest

from tabmixr import tabmix
from tabmixr.design import build_design
from tabmixr.errors import DesignError, GroupingError, RelationshipError, TabmixError
from tabmixr.formula import parse_formula
from tabmixr.kinship import Pedigree

#: A small pedigree: a0, a1 founders; a2, a3 their offspring; a4 = a2 x a3 (inbred).
PED = pd.DataFrame({"id": ["a0", "a1", "a2", "a3", "a4", "a5"],
                    "sire": [None, None, "a0", "a0", "a2", None],
                    "dam": [None, None, "a1", "a1", "a3", "a1"]})
#: Its numerator relationship matrix (tabular method, by hand).
A = np.array([[1.0, 0.0, 0.5, 0.5, 0.5, 0.0],
              [0.0, 1.0, 0.5, 0.5, 0.5, 0.5],
              [0.5, 0.5, 1.0, 0.5, 0.75, 0.25],
              [0.5, 0.5, 0.5, 1.0, 0.75, 0.25],
              [0.5, 0.5, 0.75, 0.75, 1.25, 0.25],
              [0.0, 0.5, 0.25, 0.25, 0.25, 1.0]])
IDS = list(PED["id"])


def _data(animals=("a2", "a3", "a4", "a5"), repeats=3, seed=0):
    rng = np.random.default_rng(seed)
    animal = np.repeat(list(animals), repeats)
    return pd.DataFrame({"animal": animal, "y": rng.normal(size=len(animal))})


def _design(formula, relmat, data=None):
    return build_design(parse_formula(formula), _data() if data is None else data, relmat=relmat)


def test_pedigree_keeps_ancestors_and_maps_levels():
    rel = _design("y ~ kin(1 | animal, pedigree = ped)", {"ped": PED}).terms[0].relationship
    assert rel.source == "pedigree" and rel.n == 6
    assert [rel.ids[i] for i in rel.level_index] == ["a2", "a3", "a4", "a5"]
    order = [IDS.index(i) for i in rel.ids]
    np.testing.assert_allclose(np.linalg.inv(rel.precision().toarray()), A[np.ix_(order, order)],
                               atol=1e-12)
    np.testing.assert_allclose(rel.observed_covariance(), A[2:, 2:], atol=1e-12)
    assert rel.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    obs = rel.observed_precision()
    assert obs.logdet_covariance == pytest.approx(np.linalg.slogdet(A[2:, 2:])[1], rel=1e-12)
    np.testing.assert_allclose(obs.diagonal(), np.diag(np.linalg.inv(A[2:, 2:])), rtol=1e-12)


def test_bare_kin_looks_up_the_grouping_factor_and_accepts_a_pedigree_object():
    ped = Pedigree(PED["id"], PED["sire"], PED["dam"])
    rel = _design("y ~ kin(1 | animal)", {"animal": ped}).terms[0].relationship
    assert rel.pedigree is ped and rel.source == "pedigree"


def test_matrix_is_restricted_to_the_levels_in_any_id_order():
    perm = [5, 3, 0, 4, 1, 2]
    labels = [IDS[i] for i in perm]
    K = pd.DataFrame(A[np.ix_(perm, perm)], index=labels, columns=labels)[labels[::-1]]
    rel = _design("y ~ kin(1 | animal, matrix = K)", {"K": K}).terms[0].relationship
    assert rel.source == "matrix" and rel.ids == ("a2", "a3", "a4", "a5")
    np.testing.assert_allclose(rel.observed_covariance(), A[2:, 2:], atol=1e-12)
    array_rel = _design("y ~ kin(1 | animal, matrix = K)", {"K": A[2:, 2:]}).terms[0].relationship
    np.testing.assert_allclose(array_rel.factor, rel.factor, atol=1e-12)


def test_integer_pedigree_ids_match_integer_levels():
    ped = pd.DataFrame({"id": [1, 2, 3], "sire": [np.nan, np.nan, 1], "dam": [np.nan, np.nan, 2]})
    data = pd.DataFrame({"animal": [1, 1, 2, 2, 3, 3], "y": [1.0, 2.0, 0.5, 0.1, 3.0, 2.5]})
    rel = _design("y ~ kin(1 | animal, pedigree = p)", {"p": ped}, data).terms[0].relationship
    np.testing.assert_allclose(rel.observed_covariance(), [[1, 0, .5], [0, 1, .5], [.5, .5, 1]])


def test_one_record_per_animal_is_allowed_only_for_kin_terms():
    data = _data(repeats=1)
    _design("y ~ kin(1 | animal, pedigree = ped)", {"ped": PED}, data)
    with pytest.raises(GroupingError, match="number of levels"):
        _design("y ~ (1 | animal)", None, data)


BAD = [
    ("y ~ kin(1 | animal, pedigree = ped)", None,
     r"term kin\(1 \| animal, pedigree = ped\) needs a pedigree or relationship matrix named "
     r"'ped': pass relmat=\{'ped': \.\.\.\} to the fit \(names given: none\)"),
    ("y ~ kin(1 | animal)", {"ped": PED}, r"named 'animal'.*names given: 'ped'"),
    ("y ~ kin(1 | animal, pedigree = K)", {"K": A}, r"must be a pedigree.*use matrix = K"),
    ("y ~ kin(1 | animal, pedigree = ped)", {"ped": PED.iloc[:5]},
     r"1 level\(s\) of term kin\(1 \| animal, pedigree = ped\) are not in pedigree 'ped': 'a5'"),
    ("y ~ kin(1 | animal, pedigree = ped)",
     {"ped": pd.DataFrame({"id": ["a2", "a3", "a4", "a5"], "sire": [None, "a4", "a3", None],
                           "dam": [None, None, None, None]})},
     r"pedigree 'ped' of term kin\(1 \| animal, pedigree = ped\):.*cycle"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": A[2:, 2:] + np.triu(np.full((4, 4), 0.1), 1)},
     r"matrix 'K' of term kin\(1 \| animal, matrix = K\) is not symmetric"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": np.ones((4, 4))},
     r"is not positive definite on the 4 levels.*smallest eigenvalue.*add a small value"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": pd.DataFrame(A, index=IDS, columns=IDS[::-1][:5] + ["x"])},
     r"same ids as index and columns"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": pd.DataFrame(A[:5, :5], index=IDS[:5], columns=IDS[:5])},
     r"1 level\(s\).*not in relationship matrix 'K': 'a5'; the matrix must have a row"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": A},
     r"has shape \(6, 6\), but the term has 4 levels.*pass a data frame"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": np.where(np.eye(4) > 0, np.nan, A[2:, 2:])},
     r"missing or infinite"),
    ("y ~ kin(1 | animal, matrix = K)", {"K": "not a matrix"}, r"must be a pedigree data frame"),
    ("y ~ kin(1 | animal)", [("animal", PED)], r"relmat must be a dict"),
]


@pytest.mark.parametrize("formula, relmat, message", BAD)
def test_bad_relationship_input_is_named(formula, relmat, message):
    with pytest.raises(RelationshipError, match=message) as info:
        _design(formula, relmat)
    assert isinstance(info.value, DesignError) and isinstance(info.value, TabmixError)


def test_tabmix_passes_relmat_and_checks_before_fitting():
    with pytest.raises(RelationshipError, match="not positive definite"):
        tabmix("y ~ kin(1 | animal, matrix = K)", _data(), relmat={"K": np.ones((4, 4))})
