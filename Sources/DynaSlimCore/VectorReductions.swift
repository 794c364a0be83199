// Float reductions written with SIMD8 accumulators. Swift (like C without -ffast-math) never
// reorders a scalar float sum, so a plain `for` reduction runs one add per cycle; eight lanes of
// independent partial sums let the compiler use vector adds (plain SSE/AVX adds and multiplies,
// no FMA intrinsics, so no special CPU flags are needed).

@usableFromInline typealias V8 = SIMD8<Float>

@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>, _ i: Int) -> V8 { UnsafeRawPointer(p + i).loadUnaligned(as: V8.self) }

public enum VectorReductions {
    /// (sum d, sum d*d) with d = x[i] - pivot.
    @inline(__always)
    public static func shiftedSums(_ x: UnsafePointer<Float>, _ n: Int, pivot: Float) -> (Float, Float) {
        var s = V8(repeating: 0), q = V8(repeating: 0)
        let pv = V8(repeating: pivot)
        var i = 0
        while i + 8 <= n { let d = load8(x, i) - pv; s += d; q += d * d; i += 8 }
        var ss = s.sum(), qq = q.sum()
        while i < n { let d = x[i] - pivot; ss += d; qq += d * d; i += 1 }
        return (ss, qq)
    }

    /// (sum g, sum g*(x - mean)) with g = dy, or g = dy * [y > 0] when `mask` is given.
    @inline(__always)
    public static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                                    mask: UnsafePointer<Float>?) -> (Float, Float) {
        var a = V8(repeating: 0), b = V8(repeating: 0)
        let mv = V8(repeating: mean), zero = V8(repeating: 0)
        var i = 0
        if let mask {
            while i + 8 <= n {
                let g = load8(dy, i).replacing(with: zero, where: load8(mask, i) .<= zero)
                a += g; b += g * (load8(x, i) - mv); i += 8
            }
        } else {
            while i + 8 <= n { let g = load8(dy, i); a += g; b += g * (load8(x, i) - mv); i += 8 }
        }
        var aa = a.sum(), bb = b.sum()
        while i < n {
            let g = (mask.map { $0[i] > 0 } ?? true) ? dy[i] : 0
            aa += g; bb += g * (x[i] - mean); i += 1
        }
        return (aa, bb)
    }

    /// out[i] = a * g[i] + b + c * x[i], g = dy or dy * [y > 0] (the BN input gradient, expanded:
    /// k*(m*g - sum g - (x - mean)*t) = (k*m)*g + (-k*sum g + k*mean*t) + (-k*t)*x).
    @inline(__always)
    public static func batchNormInputGrad(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
                                          mask: UnsafePointer<Float>?, a: Float, b: Float, c: Float) {
        let av = V8(repeating: a), bv = V8(repeating: b), cv = V8(repeating: c), zero = V8(repeating: 0)
        var i = 0
        while i + 8 <= n {
            var g = load8(dy, i)
            if let mask { g = g.replacing(with: zero, where: load8(mask, i) .<= zero) }
            UnsafeMutableRawPointer(out + i).storeBytes(of: av * g + bv + cv * load8(x, i), as: V8.self)
            i += 8
        }
        while i < n {
            let g = (mask.map { $0[i] > 0 } ?? true) ? dy[i] : 0
            out[i] = a * g + b + c * x[i]; i += 1
        }
    }

    /// out[i] = x[i] * scale + shift, clamped at 0 when `relu`.
    @inline(__always)
    public static func affine(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float, relu: Bool) {
        let sv = V8(repeating: scale), hv = V8(repeating: shift), zero = V8(repeating: 0)
        var i = 0
        while i + 8 <= n {
            var v = load8(x, i) * sv + hv
            if relu { v = v.replacing(with: zero, where: v .< zero) }
            UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: V8.self)
            i += 8
        }
        while i < n { let v = x[i] * scale + shift; out[i] = relu ? max(v, 0) : v; i += 1 }
    }

    /// out[i] = a[i] + b[i], clamped at 0 when `relu`.
    @inline(__always)
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, relu: Bool) {
        let zero = V8(repeating: 0)
        var i = 0
        while i + 8 <= n {
            var v = load8(a, i) + load8(b, i)
            if relu { v = v.replacing(with: zero, where: v .< zero) }
            UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: V8.self)
            i += 8
        }
        while i < n { let v = a[i] + b[i]; out[i] = relu ? max(v, 0) : v; i += 1 }
    }

    /// out[i] = mask[i] > 0 ? g[i] : 0 (ReLU backward from its output).
    @inline(__always)
    public static func maskPositive(_ g: UnsafePointer<Float>, mask: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        let zero = V8(repeating: 0)
        var i = 0
        while i + 8 <= n {
            UnsafeMutableRawPointer(out + i).storeBytes(of: load8(g, i).replacing(with: zero, where: load8(mask, i) .<= zero), as: V8.self)
            i += 8
        }
        while i < n { out[i] = mask[i] > 0 ? g[i] : 0; i += 1 }
    }
}
