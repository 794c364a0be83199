// Softmax cross-entropy, mean over the batch, optional label smoothing eps (Szegedy et al. 2016):
// target q = (1 - eps) * onehot(y) + eps / C;  loss = -(1/N) sum_n sum_c q_c log softmax(z_n)_c;
// dL/dz_n = (softmax(z_n) - q) / N.

public enum SoftmaxCrossEntropy {
    /// Returns the mean loss and writes `logitsGrad` (if given) and `probabilities` (if given).
    @discardableResult
    public static func forwardBackward(batch: Int, classes: Int, logits: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>,
                                       labelSmoothing eps: Float = 0, logitsGrad: UnsafeMutableBufferPointer<Float>? = nil,
                                       probabilities: UnsafeMutableBufferPointer<Float>? = nil) throws(ShapeError) -> Float {
        let op = "softmax cross-entropy"
        try ShapeError.require(batch > 0 && classes > 0, op, "invalid shape [\(batch), \(classes)]")
        try ShapeError.check(op, "logits", count: logits.count, expected: batch * classes, shape: [batch, classes])
        try ShapeError.check(op, "labels", count: labels.count, expected: batch, shape: [batch])
        if let logitsGrad { try ShapeError.check(op, "logits gradient", count: logitsGrad.count, expected: batch * classes, shape: [batch, classes]) }
        if let probabilities { try ShapeError.check(op, "probabilities", count: probabilities.count, expected: batch * classes, shape: [batch, classes]) }
        for n in 0..<batch {
            try ShapeError.require(labels[n] >= 0 && Int(labels[n]) < classes, op, "label \(labels[n]) at index \(n) outside 0..<\(classes)")
        }
        var total = 0.0
        let uniform = eps / Float(classes), invN = 1 / Float(batch)
        for n in 0..<batch {
            let z = logits.baseAddress! + n * classes
            var mx = z[0]
            for c in 1..<max(classes, 1) { mx = max(mx, z[c]) }
            var sum: Float = 0
            for c in 0..<classes { sum += expf(z[c] - mx) }
            let logSum = logf(sum) + mx
            let y = Int(labels[n])
            var l: Float = 0
            for c in 0..<classes {
                let q = (c == y ? 1 - eps : 0) + uniform
                let logp = z[c] - logSum
                if q != 0 { l -= q * logp }
                let p = expf(logp)
                probabilities?[n * classes + c] = p
                if let logitsGrad { logitsGrad[n * classes + c] = (p - q) * invN }
            }
            total += Double(l)
        }
        return Float(total / Double(batch))
    }

    /// Cross-entropy against soft targets q [batch, classes] (distillation: q = a teacher's softmax):
    /// loss = -(1/N) sum_n sum_c q_nc log softmax(z_n)_c; dL/dz_n = (softmax(z_n) - q_n) / N.
    @discardableResult
    public static func forwardBackward(batch: Int, classes: Int, logits: UnsafeBufferPointer<Float>, softTargets q: UnsafeBufferPointer<Float>,
                                       logitsGrad: UnsafeMutableBufferPointer<Float>) throws(ShapeError) -> Float {
        let op = "soft-target cross-entropy"
        try ShapeError.check(op, "logits", count: logits.count, expected: batch * classes, shape: [batch, classes])
        try ShapeError.check(op, "targets", count: q.count, expected: batch * classes, shape: [batch, classes])
        try ShapeError.check(op, "logits gradient", count: logitsGrad.count, expected: batch * classes, shape: [batch, classes])
        var total = 0.0
        let invN = 1 / Float(batch)
        for n in 0..<batch {
            let z = logits.baseAddress! + n * classes
            var mx = z[0]
            for c in 1..<classes { mx = max(mx, z[c]) }
            var sum: Float = 0
            for c in 0..<classes { sum += expf(z[c] - mx) }
            let logSum = logf(sum) + mx
            for c in 0..<classes {
                let logp = z[c] - logSum, t = q[n * classes + c]
                if t != 0 { total -= Double(t * logp) }
                logitsGrad[n * classes + c] = (expf(logp) - t) * invN
            }
        }
        return Float(total / Double(batch))
    }

    public static func softLossNaive<T: BinaryFloatingPoint>(batch: Int, classes: Int, logits: [T], targets: [T]) -> T where T: ElementaryLike {
        var total: T = 0
        for n in 0..<batch {
            let z = Array(logits[(n * classes)..<((n + 1) * classes)])
            let logSum = T.logT(z.map { T.expT($0) }.reduce(0, +))
            for c in 0..<classes { total -= targets[n * classes + c] * (z[c] - logSum) }
        }
        return total / T(batch)
    }

    public static func lossNaive<T: BinaryFloatingPoint>(batch: Int, classes: Int, logits: [T], labels: [Int], labelSmoothing eps: T = 0) -> T
    where T: ElementaryLike {
        var total: T = 0
        for n in 0..<batch {
            let z = Array(logits[(n * classes)..<((n + 1) * classes)])
            let logSum = T.logT(z.map { T.expT($0) }.reduce(0, +))
            for c in 0..<classes {
                let q = (c == labels[n] ? 1 - eps : 0) + eps / T(classes)
                total -= q * (z[c] - logSum)
            }
        }
        return total / T(batch)
    }

    public static func gradNaive<T: BinaryFloatingPoint>(batch: Int, classes: Int, logits: [T], labels: [Int], labelSmoothing eps: T = 0) -> [T]
    where T: ElementaryLike {
        var g = [T](repeating: 0, count: batch * classes)
        for n in 0..<batch {
            let z = Array(logits[(n * classes)..<((n + 1) * classes)])
            let s = z.map { T.expT($0) }.reduce(0, +)
            for c in 0..<classes {
                let q = (c == labels[n] ? 1 - eps : 0) + eps / T(classes)
                g[n * classes + c] = (T.expT(z[c]) / s - q) / T(batch)
            }
        }
        return g
    }
}

/// exp / log for the generic naive twins (Float and Double).
public protocol ElementaryLike {
    static func expT(_ x: Self) -> Self
    static func logT(_ x: Self) -> Self
}
extension Double: ElementaryLike {
    public static func expT(_ x: Double) -> Double { exp(x) }
    public static func logT(_ x: Double) -> Double { log(x) }
}
extension Float: ElementaryLike {
    public static func expT(_ x: Float) -> Float { expf(x) }
    public static func logT(_ x: Float) -> Float { logf(x) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
