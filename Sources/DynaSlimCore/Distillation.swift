// Knowledge distillation (Hinton et al. 2015): the student's softened softmax is pulled toward a
// teacher's, both at temperature T. The T^2 factor keeps the gradient's scale independent of T, so
// the term mixes with cross-entropy at a fixed weight alpha:
//   p = softmax(z / T), q = softmax(t / T)                       z: student logits, t: teacher logits
//   loss = T^2 * (1/N) sum_n KL(q_n || p_n) = T^2 * (1/N) sum_n sum_c q_nc (log q_nc - log p_nc)
//   dL/dz_n = T * (p_n - q_n) / N
// The teacher is a constant: no gradient flows into it.

public enum KnowledgeDistillation {
    /// Returns the mean KD loss over the batch and writes dL/dz into `logitsGrad`.
    /// Shapes: logits, teacherLogits, logitsGrad [batch, classes]; temperature > 0.
    @discardableResult
    public static func forwardBackward(batch: Int, classes: Int, logits: UnsafeBufferPointer<Float>, teacherLogits: UnsafeBufferPointer<Float>,
                                       temperature T: Float, logitsGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) -> Float {
        let op = "distillation loss"
        try ShapeError.require(batch > 0 && classes > 0, op, "invalid shape [\(batch), \(classes)]")
        try ShapeError.require(T > 0 && T.isFinite, op, "temperature \(T) must be a positive finite number")
        try ShapeError.check(op, "student logits", count: logits.count, expected: batch * classes, shape: [batch, classes])
        try ShapeError.check(op, "teacher logits", count: teacherLogits.count, expected: batch * classes, shape: [batch, classes])
        try ShapeError.check(op, "logits gradient", count: logitsGrad.count, expected: batch * classes, shape: [batch, classes])
        var total = 0.0
        let invT = 1 / T, scale = T / Float(batch)
        for n in 0..<batch {
            let z = logits.baseAddress! + n * classes, t = teacherLogits.baseAddress! + n * classes
            let zLogSum = logSumExp(z, classes, invT), tLogSum = logSumExp(t, classes, invT)
            var kl: Float = 0
            for c in 0..<classes {
                let logp = z[c] * invT - zLogSum, logq = t[c] * invT - tLogSum
                let q = expf(logq)
                if q > 0 { kl += q * (logq - logp) }
                logitsGrad[n * classes + c] = (expf(logp) - q) * scale
            }
            total += Double(kl)
        }
        return Float(Double(T * T) * total / Double(batch))
    }

    /// log sum_c exp(x_c * s), computed stably.
    @inline(__always)
    static func logSumExp(_ x: UnsafePointer<Float>, _ count: Int, _ s: Float) -> Float {
        var mx = x[0] * s
        for c in 1..<count { mx = max(mx, x[c] * s) }
        var sum: Float = 0
        for c in 0..<count { sum += expf(x[c] * s - mx) }
        return logf(sum) + mx
    }

    /// Naive twin of the loss (Double or Float), straight from the definition.
    public static func lossNaive<F: BinaryFloatingPoint & ElementaryLike>(batch: Int, classes: Int, logits: [F], teacherLogits: [F], temperature T: F) -> F {
        var total: F = 0
        for n in 0..<batch {
            let z = logits[(n * classes)..<((n + 1) * classes)].map { $0 / T }
            let t = teacherLogits[(n * classes)..<((n + 1) * classes)].map { $0 / T }
            let zs = z.map { F.expT($0) }.reduce(0, +), ts = t.map { F.expT($0) }.reduce(0, +)
            for c in 0..<classes {
                let q = F.expT(t[c]) / ts, p = F.expT(z[c]) / zs
                total += q * (F.logT(q) - F.logT(p))
            }
        }
        return T * T * total / F(batch)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
