"""Operator identities from Python: <A x, y> = <x, A^T y>, A A^+ A = A, and the Gram
solve, on every task that needs no file."""

import numpy as np
import pytest

import vmlmap

TASKS = [t["name"] for t in vmlmap.tasks() if t["name"] != "inpaint-mask"]


def shape_for(task):
    return (3, 16, 16) if task == "colorize" else (1, 16, 16)


@pytest.mark.parametrize("task", TASKS)
def test_adjoint_identity(task):
    op = vmlmap.Operator(task, shape_for(task))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(op.input_shape)
    y = rng.standard_normal(op.output_shape)
    lhs = np.vdot(op.apply(x), y)
    rhs = np.vdot(x, op.adjoint(y))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (lhs, rhs)


@pytest.mark.parametrize("task", TASKS)
def test_pinv_is_a_generalised_inverse(task):
    op = vmlmap.Operator(task, shape_for(task))
    x = np.random.default_rng(1).standard_normal(op.input_shape)
    ax = op.apply(x)
    aapa = op.apply(op.pinv(ax))
    assert np.max(np.abs(aapa - ax)) <= 1e-8 * max(1.0, np.max(np.abs(ax)))


@pytest.mark.parametrize("task", ["sr2", "inpaint-box", "cs", "deblur-gaussian"])
def test_gram_solve_inverts_the_regularised_gram_matrix(task):
    op = vmlmap.Operator(task, shape_for(task))
    v = np.random.default_rng(2).standard_normal(op.input_shape)
    lam = 0.3
    u = op.gram_solve(v, lam)
    back = op.adjoint(op.apply(u)) + lam * u
    assert np.max(np.abs(back - v)) < 1e-9


def test_batches_and_dtypes_follow_the_input():
    op = vmlmap.Operator("sr2", (1, 8, 8))
    xb = np.random.default_rng(3).standard_normal((4, 1, 8, 8)).astype(np.float32)
    yb = op.apply(xb)
    assert yb.shape == (4, 1, 4, 4) and yb.dtype == np.float32
    assert np.allclose(yb[2], op.apply(xb[2]))
    assert op.output_shape == [1, 4, 4]
    assert vmlmap.Operator("cs", (1, 8, 8)).output_shape[0] > 0


def test_bad_operator_input_names_the_problem():
    with pytest.raises(ValueError, match="unknown task"):
        vmlmap.Operator("sr3", (1, 8, 8))
    with pytest.raises(ValueError, match="shape must be"):
        vmlmap.Operator("sr2", (8, 8))
    op = vmlmap.Operator("sr2", (1, 8, 8))
    with pytest.raises(ValueError, match=r"x has shape \(1, 7, 8\)"):
        op.apply(np.zeros((1, 7, 8)))
    with pytest.raises(ValueError, match="float32 or float64"):
        op.apply(np.zeros((1, 8, 8), np.int64))
    with pytest.raises(ValueError, match="non-finite"):
        op.apply(np.full((1, 8, 8), np.nan))
    with pytest.raises(ValueError, match="unknown option"):
        vmlmap.Operator("sr2", (1, 8, 8), size=3)
