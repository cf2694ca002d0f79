"""The compiled passes of the down movement give what scipy's kernels give, to the bit."""
import numpy as np
import scipy.sparse as sp

from dmmlive.core.plan import Level, dyn_fill, matvec_into, spmm_add


def test_dyn_fill_is_scipys_constants_then_product_to_the_bit():
    rng = np.random.default_rng(7)
    for trial in range(60):
        rows, n_num, n_aud, B = rng.integers(1, 12), rng.integers(1, 9), rng.integers(1, 9), 64
        mn = sp.random(rows, n_num, density=0.5, format="csr", random_state=trial, dtype=np.float64)
        ma = sp.random(rows, n_aud, density=0.5, format="csr", random_state=trial + 1000, dtype=np.float64)
        ma = sp.csr_matrix(ma.astype(np.float32) * np.float32(3.7))
        mn.data *= 1e3 * rng.standard_normal(mn.nnz)
        Yn = rng.standard_normal(n_num) * 100
        Ya = rng.standard_normal((n_aud, B)).astype(np.float32)
        runs = [(0, rows)] if trial % 2 else [(a, b) for a, b in [(0, rows // 2), (rows // 2 + 1, rows)] if a < b]
        lv = Level([], [], mats={("audio", "number"): mn, ("audio", "audio"): ma})
        if trial % 3 == 0:
            lv.mats.pop(("audio", "number"))
        lv.dyn_runs = runs
        got = np.full((rows, B), np.float32(9.0))
        dyn_fill(lv, Yn, Ya, got)
        want = np.full((rows, B), np.float32(9.0))
        for a, b in runs:   # what the machine did with scipy: the constants, then the product
            if ("audio", "number") in lv.mats:
                want[a:b] = (mn[a:b] @ Yn)[:, None]
            else:
                want[a:b] = 0.0
            spmm_add(ma, Ya, want[a:b], a, b)
        np.testing.assert_array_equal(got, want)


def test_matvec_into_is_m_at_y():
    rng = np.random.default_rng(3)
    for trial in range(50):
        m = sp.random(9, 13, density=0.4, format="csr", random_state=trial)
        y = rng.standard_normal(13)
        out = np.full(9, 5.0)
        matvec_into(m, y, out)
        np.testing.assert_array_equal(out, m @ y)


def test_all_finite_tells_any_nan_or_infinity_in_small_and_large_blocks():
    from dmmlive.core.plan import all_finite
    rng = np.random.default_rng(11)
    for shape, dtype in [((1, 128), np.float32), ((6, 128), np.float32), ((40, 128), np.float32), ((7,), np.float64),
                         ((4000, 128), np.float32)]:
        for bad in (None, np.nan, np.inf, -np.inf):
            b = rng.standard_normal(shape).astype(dtype) * 1e30
            if bad is not None:
                b.flat[rng.integers(b.size)] = bad
            assert bool(all_finite(b)) == (bad is None), (shape, bad)
    big = np.full((4000, 128), 3e38, np.float32)   # finite, but its sum overflows
    assert all_finite(big)
