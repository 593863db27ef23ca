"""Numba intrinsics of the generated kernel: explicit SIMD for the batched delayed gather, and
stack-allocated scratch arrays.

The runs of a group sit next to each other in the ring buffer (see the kernel template), so
the delayed value of one connection for 4 runs is one contiguous 4-double load. LLVM does not
find this by itself in the kernel (it keeps 16 scalar accumulators and spills them), so
``gather4`` writes the loop in LLVM IR with ``<4 x double>`` accumulators; ``gather8`` does 8
runs per pass (two vectors per connection, offsets and weights read once).

Arithmetic is exactly that of the single-run path: connection ``k0 + 4n + m`` is added to
partial sum ``m`` (``acc_m += w_k * value``, no fused multiply-add), the remaining 0-3
connections go to partials 0, 1, 2, and the result is ``(p0 + p1) + (p2 + p3)``, lane by lane.
Batched runs therefore stay bit-identical to the same runs done alone.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

__all__ = ["gather4", "gather8", "stack_zeros"]

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VEC = ir.VectorType(ir.DoubleType(), 4)


def _check_gather_args(fname, buf, offsets, w, ints):
    # the generated code reads raw memory: refuse any other layout or element type at compile time
    if not (isinstance(buf, types.Array) and buf.ndim == 2 and buf.layout == "C" and buf.dtype == types.float64):
        raise TypingError(f"{fname}: buf must be a 2-D C-contiguous float64 array, got {buf}")
    for name, arr, dtype in (("offsets", offsets, types.uint64), ("w", w, types.float64)):
        if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C" and arr.dtype == dtype):
            raise TypingError(f"{fname}: {name} must be a 1-D contiguous {dtype} array, got {arr}")
    for name, v in ints:
        if v != types.uint64:
            raise TypingError(f"{fname}: {name} must be uint64, got {v}")


def _gather_codegen(nvec):
    """LLVM code of the gather for ``nvec`` vectors of 4 runs (4 * nvec contiguous runs)."""

    def codegen(context, builder, signature, args):
        bufv, cv, offv, wv, k0v, k1v, up0v, ubv, ub0v = args
        bufa = context.make_array(signature.args[0])(context, builder, bufv)
        offa = context.make_array(signature.args[2])(context, builder, offv)
        wa = context.make_array(signature.args[3])(context, builder, wv)
        row = builder.mul(context.cast(builder, cv, signature.args[1], types.int64),
                          builder.extract_value(bufa.shape, 1))
        rowbase = builder.gep(bufa.data, [row])
        zero = ir.Constant(_VEC, [0.0] * 4)
        splat = ir.Constant(ir.VectorType(_I32, 4), [0] * 4)

        def add_connection(k, acc):
            """acc: nvec partial-sum vectors; returns them with connection k added."""
            off = builder.load(builder.gep(offa.data, [k]))
            idx = builder.add(builder.mul(builder.add(off, up0v), ubv), ub0v)
            base = builder.gep(rowbase, [idx])
            wk = builder.load(builder.gep(wa.data, [k]))
            ws = builder.insert_element(ir.Constant(_VEC, ir.Undefined), wk, ir.Constant(_I32, 0))
            ws = builder.shuffle_vector(ws, ws, splat)
            out = []
            for v in range(nvec):
                ptr = builder.bitcast(builder.gep(base, [ir.Constant(_I64, 4 * v)]), _VEC.as_pointer())
                out.append(builder.fadd(acc[v], builder.fmul(ws, builder.load(ptr, align=8))))
            return out

        fn = builder.function
        entry = builder.block
        head = fn.append_basic_block("gather.head")
        body = fn.append_basic_block("gather.body")
        tail = fn.append_basic_block("gather.tail")
        builder.branch(head)

        builder.position_at_end(head)
        k = builder.phi(_I64)
        accs = [[builder.phi(_VEC) for _ in range(nvec)] for _ in range(4)]  # [partial m][vector v]
        k.add_incoming(k0v, entry)
        for part in accs:
            for a in part:
                a.add_incoming(zero, entry)
        builder.cbranch(builder.icmp_unsigned("<", builder.add(k, ir.Constant(_I64, 3)), k1v), body, tail)

        builder.position_at_end(body)
        new = [add_connection(builder.add(k, ir.Constant(_I64, m)), accs[m]) for m in range(4)]
        k.add_incoming(builder.add(k, ir.Constant(_I64, 4)), builder.block)
        for part, npart in zip(accs, new):
            for a, n in zip(part, npart):
                a.add_incoming(n, builder.block)
        builder.branch(head)

        builder.position_at_end(tail)
        out = [list(part) for part in accs]
        for m in range(3):  # the remaining 0-3 connections of the row
            km = builder.add(k, ir.Constant(_I64, m))
            before = builder.block
            with builder.if_then(builder.icmp_unsigned("<", km, k1v)):
                added = add_connection(km, out[m])
                then = builder.block
            merged = []
            for a, prev in zip(added, out[m]):
                phi = builder.phi(_VEC)
                phi.add_incoming(a, then)
                phi.add_incoming(prev, before)
                merged.append(phi)
            out[m] = merged
        res = context.get_constant_undef(signature.return_type)
        for v in range(nvec):
            total = builder.fadd(builder.fadd(out[0][v], out[1][v]), builder.fadd(out[2][v], out[3][v]))
            for r in range(4):
                res = builder.insert_value(res, builder.extract_element(total, ir.Constant(_I32, r)), 4 * v + r)
        return res

    return codegen


def _gather_signature(fname, nvec, buf, c, offsets, w, k0, k1, up0, uB, ub0):
    _check_gather_args(fname, buf, offsets, w, (("k0", k0), ("k1", k1), ("up0", up0), ("uB", uB), ("ub0", ub0)))
    return types.UniTuple(types.float64, 4 * nvec)(buf, c, offsets, w, k0, k1, up0, uB, ub0)


@intrinsic
def gather4(typingctx, buf, c, offsets, w, k0, k1, up0, uB, ub0):
    """(s0, s1, s2, s3): s_r = sum over k in [k0, k1) of w[k] * buf[c, (offsets[k] + up0) * uB + ub0 + r].

    buf: 2-D C-contiguous float64; offsets: uint64 array; w: float64 array; k0, k1, up0, uB,
    ub0: uint64 (ring position, runs per group and first run of the block).
    """
    return _gather_signature("gather4", 1, buf, c, offsets, w, k0, k1, up0, uB, ub0), _gather_codegen(1)


@intrinsic
def gather8(typingctx, buf, c, offsets, w, k0, k1, up0, uB, ub0):
    """As ``gather4`` for 8 runs ub0 .. ub0 + 7: each connection's offset and weight are loaded once
    for two 4-run vectors (less index arithmetic per run, and 64 contiguous bytes per read)."""
    return _gather_signature("gather8", 2, buf, c, offsets, w, k0, k1, up0, uB, ub0), _gather_codegen(2)


@intrinsic
def stack_zeros(typingctx, n):
    """A zero-filled float64 array of literal length ``n`` on the kernel's stack.

    For the small per-node scratch arrays of the kernel: unlike ``np.zeros`` (heap memory
    that may alias any other array), LLVM keeps these in registers and does not reload them
    after every store to another array. The array must not outlive the calling function.
    """
    if not isinstance(n, types.IntegerLiteral) or n.literal_value < 1:
        raise TypingError(f"stack_zeros: n must be a positive integer literal, got {n}")
    size = n.literal_value
    arrty = types.Array(types.float64, 1, "C")

    def codegen(context, builder, signature, args):
        dbl = ir.DoubleType()
        storage = cgutils.alloca_once(builder, ir.ArrayType(dbl, size))  # in the entry block
        builder.store(ir.Constant(ir.ArrayType(dbl, size), [0.0] * size), storage)
        ary = context.make_array(arrty)(context, builder)
        itemsize = context.get_constant(types.intp, 8)
        context.populate_array(ary, data=builder.bitcast(storage, dbl.as_pointer()),
                               shape=cgutils.pack_array(builder, [context.get_constant(types.intp, size)]),
                               strides=cgutils.pack_array(builder, [itemsize]), itemsize=itemsize, meminfo=None)
        return ary._getvalue()

    return arrty(n), codegen
