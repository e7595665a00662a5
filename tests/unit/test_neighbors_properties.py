"""Properties of ``neighbors.nearest_neighbors`` and ``neighbors.cross_nearest``.

References: a float64 brute-force top-k over every pair. The exact path must return the true
top-k: the same similarity multiset (within float32 rounding, ``TIE``), best first, no row
twice, never the query itself; and, ranked on the same float32 product the exact path makes,
exactly the documented order with ties by lower index. The inverted-file path
(``EXACT_LIMIT`` lowered so it runs on small inputs, ``PROBES`` lowered so it really skips
cells) must return the exact top-k among the rows of the cells it probes, with ``-1`` only
where those cells hold fewer than ``k`` other rows, never fewer neighbours than its own cell
holds, and never the query itself. Its recall with the real probes is measured on about 3,000
clustered rows (see ``test_recall_of_the_inverted_file``), the limit lowered to
``INDEXED_ABOVE``: a brute force above the real limit (20,000 rows) is too dear for a unit test.

Cases run: 120 (exact, self search), 100 (exact cross search), 100 (inverted file, self),
60 (inverted file, cross), 8 (recall on ~3,000 clustered rows; each needs a 3,000 x 3,000
brute force), 5 (keyed cells against slightly moved vectors), plus regression examples.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases import neighbors
from consolidation_assets.phases.neighbors import Neighbors, cross_nearest, nearest_neighbors
from tests.helpers import INDEXED_ABOVE
from tests.unit.strategies import PROPERTY_SETTINGS, normalized_rows, unit_vectors

TIE = 1e-5
ks = st.integers(0, 15)


def check_top_k(
    result: Neighbors,
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    self_: bool,
    same_arithmetic: bool = False,
) -> None:
    """``result`` is the true top-k of every query row over ``base``.

    Against float64: the same similarity multiset and no left-out row more than ``TIE`` above
    the k-th. With ``same_arithmetic`` (the exact path, which scores all queries against all
    rows in one float32 product), also exactly the documented order: by the float32
    similarity, ties by lower index. Bitwise identical rows are not enough to expect a tie
    elsewhere: BLAS may round a row's dot product differently depending on where the row sits
    in a block (seen: one ulp on the last of 129 identical rows in a one-query product).
    The reference product is a general matrix product, as the search's is: numpy computes
    ``a @ a.T`` of one array as a symmetric product, which rounds differently (seen: 0 against
    1.5e-8 for two orthogonal rows, which reordered a tie).
    """
    m, n = queries.shape[0], base.shape[0]
    assert result.indices.shape == (m, k) and result.similarities.shape == (m, k)
    sims64 = queries.astype(np.float64) @ base.astype(np.float64).T
    # OpenBLAS has (rarely, not reproducibly) raised a spurious "invalid value" flag on this
    # float32 product; the values are what matters, and they are checked to be finite.
    with np.errstate(invalid="ignore"):
        sims32 = queries.copy() @ base.T
    assert np.isfinite(sims32).all()
    if self_:
        np.fill_diagonal(sims64, -np.inf)
        np.fill_diagonal(sims32, -np.inf)
    available = max(0, min(k, n - (1 if self_ else 0)))
    expected = np.argsort(-sims32, axis=1, kind="stable")[:, :available]
    for row in range(m):
        got = result.indices[row]
        assert (got[available:] == -1).all() and (got[:available] >= 0).all()
        assert np.isneginf(result.similarities[row, available:]).all()
        if available == 0:
            continue
        got, reported = got[:available], result.similarities[row, :available]
        assert len(set(got.tolist())) == available, "no repeated neighbour"
        assert not (self_ and row in got.tolist()), "never the query itself"
        np.testing.assert_allclose(reported, sims64[row, got], atol=TIE, rtol=0)
        true_best = np.sort(sims64[row])[::-1][:available]
        np.testing.assert_allclose(np.sort(sims64[row, got])[::-1], true_best, atol=TIE, rtol=0)
        assert (np.diff(reported) <= 0).all(), "best first"
        tied = np.diff(reported) == 0
        assert (np.diff(got)[tied] > 0).all(), "equal similarities by index"
        if same_arithmetic:
            assert got.tolist() == expected[row].tolist()


@settings(PROPERTY_SETTINGS, max_examples=120)
@given(unit_vectors(), ks)
def test_exact_self_search_is_the_true_top_k(vectors: np.ndarray, k: int) -> None:
    check_top_k(nearest_neighbors(vectors, k), vectors, vectors, k, True, same_arithmetic=True)


def test_regression_the_reference_product_rounds_as_the_search_does() -> None:
    """Row 7 is orthogonal to rows 1 and 4: the symmetric product gives both 0 (a tie, won by
    row 1), the general product the search uses gives row 4 a one-ulp edge."""
    a, b, c, d = 0.4170288, 0.2085144, 0.45883146, 0.22941573
    e, f, g, h, i = 0.39223227, 0.19611613, 0.4364358, 0.2182179, 0.31622776
    j, m = 0.2581989, 0.5163978
    vectors = np.array(
        [
            [a, b, 0, -b, -b, -a, -a, -a, -a],
            [0.5, 0.25, 0.5, 0, 0.25, 0.5, 0.25, 0.25, 0],
            [0, c, -d, c, d, -c, -d, c, 0],
            [-e, f, f, e, -e, -e, e, -e, 0],
            [-g, -h, 0, 0, 0, -g, -g, -g, -g],
            [i, 0, i, -i, i, i, -i, 0, 0.6324555],
            [g, g, -h, h, g, h, g, h, h],
            [-0.25, 0.5, -0.5, 0, 0.25, 0.5, 0, -0.25, -0.25],
            [0, 0, j, m, -m, m, 0, -j, j],
        ],
        dtype=np.float32,
    )
    check_top_k(nearest_neighbors(vectors, 3), vectors, vectors, 3, True, same_arithmetic=True)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(unit_vectors(max_n=60), unit_vectors(), ks, st.booleans())
def test_exact_cross_search_is_the_true_top_k(
    queries: np.ndarray, base: np.ndarray, k: int, exact: bool
) -> None:
    """Below the limit, and at any size with ``exact=True``, every pair is compared."""
    if queries.shape[1] != base.shape[1]:
        queries = normalized_rows(np.resize(queries, (queries.shape[0], base.shape[1])))
    result = cross_nearest(queries, base, k, exact=exact)
    check_top_k(result, queries, base, k, False, same_arithmetic=True)


def probed_rows(queries: np.ndarray, base: np.ndarray, self_: bool) -> list[np.ndarray]:
    """Per query, the base rows of the cells the inverted file probes for it: the documented
    rule (its own cell and the nearest others by centroid, ``PROBES`` in all) on the module's
    own partition."""
    centroids, cell_of = neighbors.partition(base)
    query_cell = cell_of if self_ else np.argmax(queries @ centroids.T, axis=1)
    probes = min(neighbors.PROBES, centroids.shape[0])
    closeness = centroids @ centroids.T
    np.fill_diagonal(closeness, np.inf)
    near = np.argsort(-closeness, axis=1, kind="stable")[:, :probes]
    return [np.flatnonzero(np.isin(cell_of, near[c])) for c in query_cell.tolist()]


def check_inverted_file(
    result: Neighbors, queries: np.ndarray, base: np.ndarray, k: int, self_: bool
) -> None:
    """The exact top-k among the probed rows; ``-1`` only where they are fewer than ``k``."""
    centroids, cell_of = neighbors.partition(base)
    query_cell = cell_of if self_ else np.argmax(queries @ centroids.T, axis=1)
    for row, candidates in enumerate(probed_rows(queries, base, self_)):
        if self_:
            candidates = candidates[candidates != row]
        got = result.indices[row]
        valid = got[got >= 0]
        assert valid.size == min(k, candidates.size), "-1 only when candidates run out"
        cell_mates = np.count_nonzero(cell_of == query_cell[row]) - (1 if self_ else 0)
        assert valid.size >= min(k, cell_mates), "a cell always searches itself"
        assert (got[valid.size :] == -1).all()
        assert not (self_ and row in valid.tolist()), "never the query itself"
        position = np.searchsorted(candidates, valid)
        assert (candidates[np.minimum(position, candidates.size - 1)] == valid).all()
        local = Neighbors(position[None, :], result.similarities[row : row + 1, : valid.size], 0)
        check_top_k(local, queries[row : row + 1], base[candidates], valid.size, False)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(unit_vectors(min_n=51), ks, st.integers(1, 4))
def test_inverted_file_is_exact_within_its_probed_cells(
    vectors: np.ndarray, k: int, probes: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neighbors, "EXACT_LIMIT", 50)
        patch.setattr(neighbors, "PROBES", probes)
        result = nearest_neighbors(vectors, k)
        check_inverted_file(result, vectors, vectors, k, self_=True)


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(unit_vectors(max_n=40), unit_vectors(min_n=51), ks, st.integers(1, 4))
def test_inverted_file_cross_search_is_exact_within_its_probed_cells(
    queries: np.ndarray, base: np.ndarray, k: int, probes: int
) -> None:
    if queries.shape[1] != base.shape[1]:
        queries = normalized_rows(np.resize(queries, (queries.shape[0], base.shape[1])))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neighbors, "EXACT_LIMIT", 50)
        patch.setattr(neighbors, "PROBES", probes)
        result = cross_nearest(queries, base, k)
        check_inverted_file(result, queries, base, k, self_=False)


# Recall of the inverted file with the real probes on about 3,000 rows (the exact limit lowered
# to ``INDEXED_ABOVE``, as it was before the search became exact up to 20,000 rows; with more
# rows there are more cells and the same probes cover fewer of them). Measured on 150 data sets
# drawn exactly as
# below (2,900-3,100 rows, 32/64/128 dimensions, n/60, n/20 or n/10 topics, noise 0.3 or 0.5
# per dimension around unit-variance topic centres, 0 or 10% duplicated rows; k = 10, the
# phases' default): mean recall@10 was 0.870 at worst (median 0.993), and at worst 92.4% of
# rows kept at least half of their true ten. The bounds sit 0.05 below those minima. A single
# row can get none of its true neighbours (a row whose nearest centroid is not among the
# probed cells of its own cell), so no per-row bound holds. Unclustered noise does worse
# (mean recall near 0.4 at noise 2.0 in 64 dimensions): the bound is for clustered data only.
MIN_MEAN_RECALL = 0.82
MIN_SHARE_HALF_RECALLED = 0.87


@settings(PROPERTY_SETTINGS, max_examples=8)
@given(
    st.integers(2_900, 3_100),
    st.sampled_from([32, 64, 128]),
    st.sampled_from([0.3, 0.5]),
    st.sampled_from([60, 20, 10]),
    st.sampled_from([0.0, 0.1]),
    st.integers(0, 2**32 - 1),
)
def test_recall_of_the_inverted_file(
    n: int, dim: int, noise: float, rows_per_topic: int, duplicated: float, seed: int
) -> None:
    assert n > INDEXED_ABOVE, "the inverted file must be the path under test"
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // rows_per_topic, dim))
    raw = centres[rng.integers(0, len(centres), n)] + noise * rng.standard_normal((n, dim))
    copies = np.flatnonzero(rng.random(n) < duplicated)
    copies = copies[copies > 0]
    raw[copies] = raw[rng.integers(0, copies, copies.size)]
    vectors = normalized_rows(raw)
    k = 10
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neighbors, "EXACT_LIMIT", INDEXED_ABOVE)
        result = nearest_neighbors(vectors, k)
    sims = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    np.fill_diagonal(sims, -np.inf)
    assert not (result.indices == np.arange(n)[:, None]).any(), "never the query itself"
    assert (result.indices >= 0).all(), "thousands of candidates: no holes"
    kth = -np.partition(-sims, k - 1, axis=1)[:, k - 1]
    found = np.take_along_axis(sims, result.indices, axis=1)
    recall = (found >= kth[:, None] - 1e-6).sum(axis=1) / k
    assert recall.mean() >= MIN_MEAN_RECALL
    assert (recall >= 0.5).mean() >= MIN_SHARE_HALF_RECALLED


# The same texts embedded on two CPUs differ in their vectors' last bits. With keys (the phases
# pass a digest of each text) the inverted file's cells come from the keys, so such a difference
# may change a row's neighbours only where it breaks a near tie. Without them, seeded by a hash
# of the bytes, about 70% of 7,817 MRPC sentences got other neighbours (benchmarks/README.md).
MIN_SHARE_UNCHANGED = 0.99


@settings(PROPERTY_SETTINGS, max_examples=5)
@given(st.integers(2_900, 3_100), st.sampled_from([32, 64]), st.integers(0, 2**32 - 1))
def test_keyed_cells_do_not_depend_on_the_vectors_last_bits(n: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 20, dim))
    vectors = normalized_rows(
        centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim))
    )
    other_cpu = normalized_rows(vectors + 1e-7 * rng.standard_normal((n, dim)).astype(np.float32))
    keys = rng.permutation(n)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neighbors, "EXACT_LIMIT", INDEXED_ABOVE)
        here = nearest_neighbors(vectors, 10, keys)
        there = nearest_neighbors(other_cpu, 10, keys)
    unchanged = (np.sort(here.indices, axis=1) == np.sort(there.indices, axis=1)).all(axis=1)
    assert unchanged.mean() >= MIN_SHARE_UNCHANGED


def test_regression_ties_at_the_kth_neighbour_go_to_the_lower_index() -> None:
    """argpartition left the tie at the k-th place to chance: row 0's two equally near rows
    2 and 3 (identical vectors) gave 3. Smallest case, found by a search over 2-d grid inputs
    after hypothesis reported a 9-row one."""
    vectors = normalized_rows(np.array([[1, 0], [0, -1], [1, 1], [1, 1]]))
    assert nearest_neighbors(vectors, 1).indices[:, 0].tolist() == [2, 0, 3, 2]


def test_regression_a_cell_always_searches_itself() -> None:
    """All 51 rows identical fell into one cell whose renormalised centroid was, by rounding,
    less similar to itself (0.99999994) than to the identical centroids of empty cells (1.0),
    so with one probe the cell searched an empty cell and every row got no neighbour."""
    vectors = np.tile(np.array([[-0.94551253, -0.32558572]], dtype=np.float32), (51, 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neighbors, "EXACT_LIMIT", 50)
        patch.setattr(neighbors, "PROBES", 1)
        result = nearest_neighbors(vectors, 1)
    assert (result.indices[1:, 0] == 0).all() and result.indices[0, 0] == 1


def test_regression_identical_rows_above_the_limit_find_each_other() -> None:
    """The same bug at the real probes: 2,100 identical rows, then above the exact limit, got
    no neighbour at all."""
    row = [0.00061916, 0.15036395, -0.13797848, -0.44825077]
    row += [-0.22884391, -0.49911341, 0.03027135, 0.67455423]
    vectors = np.tile(np.array([row], dtype=np.float32), (2_100, 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neighbors, "EXACT_LIMIT", INDEXED_ABOVE)
        result = nearest_neighbors(vectors, 5)
    assert (result.indices >= 0).all()
