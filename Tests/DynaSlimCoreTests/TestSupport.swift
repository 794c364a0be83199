import DynaSlimCore

/// Helpers shared by the kernel tests: random data, error measures, finite differences.
enum TestSupport {
    static func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in rng.nextNormal() * scale }
    }

    /// max |a - b| / max(1, max |b|): relative to the reference's magnitude; infinity when a value
    /// is not finite (tests fill outputs with NaN first, so an output a kernel never wrote counts as
    /// wrong: Swift's max(x, NaN) would drop it).
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
        var num: Float = 0, den: Float = 1
        for i in a.indices {
            guard a[i].isFinite, b[i].isFinite else { return .infinity }
            num = max(num, abs(a[i] - b[i])); den = max(den, abs(b[i]))
        }
        return num / den
    }
    static func relativeError(_ a: [Float], _ b: [Double]) -> Float { relativeError(a, b.map(Float.init)) }

    /// Central finite differences of a scalar function at x (in Double): df/dx_i.
    static func numericGradient(_ x: [Double], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
        var x = x
        var g = [Double](repeating: 0, count: x.count)
        for i in x.indices {
            let v = x[i]
            x[i] = v + h; let fp = f(x)
            x[i] = v - h; let fm = f(x)
            x[i] = v
            g[i] = (fp - fm) / (2 * h)
        }
        return g
    }

    /// max |a - b| / max(1e-3, max |b|).
    static func gradientError(_ analytic: [Double], _ numeric: [Double]) -> Double {
        var num = 0.0, den = 1e-3
        for i in analytic.indices { num = max(num, abs(analytic[i] - numeric[i])); den = max(den, abs(numeric[i])) }
        return num / den
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
}
