"""Explicit SIMD for the batched delayed gather (a numba intrinsic that emits LLVM vector code).

The runs of a group sit next to each other in the ring buffer (see the kernel template), so
the delayed value of one connection for 4 runs is one contiguous 4-double load. LLVM does not
find this by itself in the kernel (it keeps 16 scalar accumulators and spills them), so
``gather4`` writes the loop in LLVM IR with ``<4 x double>`` accumulators.

Arithmetic is exactly that of the single-run path: connection ``k0 + 4n + m`` is added to
partial sum ``m`` (``acc_m += w_k * value``, no fused multiply-add), the remaining 0-3
connections go to partials 0, 1, 2, and the result is ``(p0 + p1) + (p2 + p3)``, lane by lane.
Batched runs therefore stay bit-identical to the same runs done alone.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic

__all__ = ["gather4"]

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VEC = ir.VectorType(ir.DoubleType(), 4)


@intrinsic
def gather4(typingctx, buf, c, offsets, w, k0, k1, up0, uB, ub0):
    """(s0, s1, s2, s3): s_r = sum over k in [k0, k1) of w[k] * buf[c, (offsets[k] + up0) * uB + ub0 + r].

    buf: 2-D C-contiguous float64; offsets: uint64 array; w: float64 array; k0, k1, up0, uB,
    ub0: uint64 (ring position, runs per group and first run of the block).
    """
    # the generated code reads raw memory: refuse any other layout or element type at compile time
    if not (isinstance(buf, types.Array) and buf.ndim == 2 and buf.layout == "C" and buf.dtype == types.float64):
        raise TypingError(f"gather4: buf must be a 2-D C-contiguous float64 array, got {buf}")
    for name, arr, dtype in (("offsets", offsets, types.uint64), ("w", w, types.float64)):
        if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C" and arr.dtype == dtype):
            raise TypingError(f"gather4: {name} must be a 1-D contiguous {dtype} array, got {arr}")
    for name, v in (("k0", k0), ("k1", k1), ("up0", up0), ("uB", uB), ("ub0", ub0)):
        if v != types.uint64:
            raise TypingError(f"gather4: {name} must be uint64, got {v}")
    sig = types.UniTuple(types.float64, 4)(buf, c, offsets, w, k0, k1, up0, uB, ub0)

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
            off = builder.load(builder.gep(offa.data, [k]))
            idx = builder.add(builder.mul(builder.add(off, up0v), ubv), ub0v)
            ptr = builder.bitcast(builder.gep(rowbase, [idx]), _VEC.as_pointer())
            x = builder.load(ptr, align=8)
            wk = builder.load(builder.gep(wa.data, [k]))
            ws = builder.insert_element(ir.Constant(_VEC, ir.Undefined), wk, ir.Constant(_I32, 0))
            ws = builder.shuffle_vector(ws, ws, splat)
            return builder.fadd(acc, builder.fmul(ws, x))

        fn = builder.function
        entry = builder.block
        head = fn.append_basic_block("gather4.head")
        body = fn.append_basic_block("gather4.body")
        tail = fn.append_basic_block("gather4.tail")
        builder.branch(head)

        builder.position_at_end(head)
        k = builder.phi(_I64)
        accs = [builder.phi(_VEC) for _ in range(4)]
        k.add_incoming(k0v, entry)
        for a in accs:
            a.add_incoming(zero, entry)
        builder.cbranch(builder.icmp_unsigned("<", builder.add(k, ir.Constant(_I64, 3)), k1v), body, tail)

        builder.position_at_end(body)
        new = [add_connection(builder.add(k, ir.Constant(_I64, m)), accs[m]) for m in range(4)]
        k.add_incoming(builder.add(k, ir.Constant(_I64, 4)), builder.block)
        for a, n in zip(accs, new):
            a.add_incoming(n, builder.block)
        builder.branch(head)

        builder.position_at_end(tail)
        out = list(accs)
        for m in range(3):  # the remaining 0-3 connections of the row
            km = builder.add(k, ir.Constant(_I64, m))
            before = builder.block
            with builder.if_then(builder.icmp_unsigned("<", km, k1v)):
                added = add_connection(km, out[m])
                then = builder.block
            merged = builder.phi(_VEC)
            merged.add_incoming(added, then)
            merged.add_incoming(out[m], before)
            out[m] = merged
        total = builder.fadd(builder.fadd(out[0], out[1]), builder.fadd(out[2], out[3]))
        res = context.get_constant_undef(signature.return_type)
        for r in range(4):
            res = builder.insert_value(res, builder.extract_element(total, ir.Constant(_I32, r)), r)
        return res

    return sig, codegen
