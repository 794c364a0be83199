import Foundation
import Testing
@testable import DynaSlimCore

/// ReLU, pooling, linear, dropout, residual and the zero-pad shortcut: fast vs naive twin,
/// and naive backward vs central finite differences (Double).
@Suite("Small kernels")
struct ElementwiseKernelTests {
    @Test("ReLU")
    func relu() throws {
        let x = TestSupport.randomFloats(50, seed: 1), dy = TestSupport.randomFloats(50, seed: 2)
        var y = [Float](repeating: 0, count: 50), dx = y
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try ReLU.forward(input: xp, output: $0) } }
        try y.withUnsafeBufferPointer { yp in try dy.withUnsafeBufferPointer { dyp in
            try dx.withUnsafeMutableBufferPointer { try ReLU.backward(output: yp, outputGrad: dyp, inputGrad: $0) } } }
        #expect(y == ReLU.forwardNaive(x))
        #expect(dx == ReLU.backwardNaive(input: x, outputGrad: dy))
        // Finite differences away from the kink.
        let xd = x.map { Double($0) + ($0 >= 0 ? 0.1 : -0.1) }, r = dy.map(Double.init)
        let num = TestSupport.numericGradient(xd) { TestSupport.dot(ReLU.forwardNaive($0), r) }
        #expect(TestSupport.gradientError(ReLU.backwardNaive(input: xd, outputGrad: r), num) < 1e-6)
    }

    @Test("max pool", arguments: [PoolGeometry(batch: 2, channels: 3, inHeight: 6, inWidth: 6, kernel: 2, stride: 2),
                                  PoolGeometry(batch: 1, channels: 2, inHeight: 7, inWidth: 5, kernel: 3, stride: 2)])
    func maxPool(g: PoolGeometry) throws {
        let x = TestSupport.randomFloats(g.inputCount, seed: 3), dy = TestSupport.randomFloats(g.outputCount, seed: 4)
        var y = [Float](repeating: 0, count: g.outputCount), arg = [Int32](repeating: 0, count: g.outputCount)
        var dx = [Float](repeating: .nan, count: g.inputCount)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
            try arg.withUnsafeMutableBufferPointer { try MaxPool2D.forward(g, input: xp, output: yp, argmax: $0) } } }
        try arg.withUnsafeBufferPointer { ap in try dy.withUnsafeBufferPointer { dyp in
            try dx.withUnsafeMutableBufferPointer { try MaxPool2D.backward(g, argmax: ap, outputGrad: dyp, inputGrad: $0) } } }
        let xd = x.map(Double.init), r = dy.map(Double.init)
        #expect(TestSupport.relativeError(y, MaxPool2D.forwardNaive(g, input: xd)) == 0)
        let naive = MaxPool2D.backwardNaive(g, input: xd, outputGrad: r)
        #expect(TestSupport.relativeError(dx, naive) <= 1e-6)
        let num = TestSupport.numericGradient(xd) { TestSupport.dot(MaxPool2D.forwardNaive(g, input: $0), r) }
        #expect(TestSupport.gradientError(naive, num) < 1e-6)
    }

    @Test("average pool 2x2 stride 2 (the predictor's fast path) equals the naive twin, odd sizes included")
    func avgPool2x2() throws {
        for (h, w) in [(32, 32), (7, 5), (2, 2)] {
            let g = PoolGeometry(batch: 2, channels: 3, inHeight: h, inWidth: w, kernel: 2, stride: 2)
            let x = TestSupport.randomFloats(g.inputCount, seed: 9)
            var y = [Float](repeating: .nan, count: g.outputCount)
            try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try AvgPool2D.forward(g, input: xp, output: $0) } }
            #expect(TestSupport.relativeError(y, AvgPool2D.forwardNaive(g, input: x.map(Double.init))) <= 1e-6)
        }
    }

    @Test("average pool and global average pool")
    func avgPool() throws {
        let g = PoolGeometry(batch: 2, channels: 2, inHeight: 5, inWidth: 4, kernel: 2, stride: 1)
        let x = TestSupport.randomFloats(g.inputCount, seed: 5), dy = TestSupport.randomFloats(g.outputCount, seed: 6)
        var y = [Float](repeating: 0, count: g.outputCount), dx = [Float](repeating: .nan, count: g.inputCount)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try AvgPool2D.forward(g, input: xp, output: $0) } }
        try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { try AvgPool2D.backward(g, outputGrad: dyp, inputGrad: $0) } }
        let xd = x.map(Double.init), r = dy.map(Double.init)
        #expect(TestSupport.relativeError(y, AvgPool2D.forwardNaive(g, input: xd)) <= 1e-6)
        #expect(TestSupport.relativeError(dx, AvgPool2D.backwardNaive(g, outputGrad: r)) <= 1e-6)
        let num = TestSupport.numericGradient(xd) { TestSupport.dot(AvgPool2D.forwardNaive(g, input: $0), r) }
        #expect(TestSupport.gradientError(AvgPool2D.backwardNaive(g, outputGrad: r), num) < 1e-6)

        let planes = 6, plane = 9
        let gx = TestSupport.randomFloats(planes * plane, seed: 7), gdy = TestSupport.randomFloats(planes, seed: 8)
        var gy = [Float](repeating: 0, count: planes), gdx = [Float](repeating: 0, count: planes * plane)
        try gx.withUnsafeBufferPointer { xp in try gy.withUnsafeMutableBufferPointer { try GlobalAvgPool.forward(planes: planes, plane: plane, input: xp, output: $0) } }
        try gdy.withUnsafeBufferPointer { dyp in try gdx.withUnsafeMutableBufferPointer { try GlobalAvgPool.backward(planes: planes, plane: plane, outputGrad: dyp, inputGrad: $0) } }
        let gxd = gx.map(Double.init), gr = gdy.map(Double.init)
        #expect(TestSupport.relativeError(gy, GlobalAvgPool.forwardNaive(planes: planes, plane: plane, input: gxd)) <= 1e-6)
        let gnum = TestSupport.numericGradient(gxd) { TestSupport.dot(GlobalAvgPool.forwardNaive(planes: planes, plane: plane, input: $0), gr) }
        #expect(TestSupport.gradientError(GlobalAvgPool.backwardNaive(planes: planes, plane: plane, outputGrad: gr), gnum) < 1e-6)
        #expect(TestSupport.relativeError(gdx, GlobalAvgPool.backwardNaive(planes: planes, plane: plane, outputGrad: gr)) <= 1e-6)
    }

    @Test("linear")
    func linear() throws {
        let (n, i, o) = (5, 7, 3)
        let x = TestSupport.randomFloats(n * i, seed: 9), w = TestSupport.randomFloats(o * i, seed: 10)
        let b = TestSupport.randomFloats(o, seed: 11), dy = TestSupport.randomFloats(n * o, seed: 12)
        var y = [Float](repeating: 0, count: n * o), dx = [Float](repeating: 0, count: n * i), dw = w, db = b
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in
            try b.withUnsafeBufferPointer { bp in try y.withUnsafeMutableBufferPointer {
                try Linear.forward(batch: n, inFeatures: i, outFeatures: o, input: xp, weight: wp, bias: bp, output: $0) } }
            try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in
                try db.withUnsafeMutableBufferPointer { dbp in
                    try Linear.backward(batch: n, inFeatures: i, outFeatures: o, input: xp, weight: wp, outputGrad: dyp,
                                        inputGrad: dxp, weightGrad: dwp, biasGrad: dbp) } } } }
        } }
        let xd = x.map(Double.init), wd = w.map(Double.init), bd = b.map(Double.init), r = dy.map(Double.init)
        #expect(TestSupport.relativeError(y, Linear.forwardNaive(batch: n, inFeatures: i, outFeatures: o, input: xd, weight: wd, bias: bd)) <= 1e-5)
        let ref = Linear.backwardNaive(batch: n, inFeatures: i, outFeatures: o, input: xd, weight: wd, outputGrad: r)
        #expect(TestSupport.relativeError(dx, ref.input) <= 1e-5)
        #expect(TestSupport.relativeError(dw, ref.weight) <= 1e-5)
        #expect(TestSupport.relativeError(db, ref.bias) <= 1e-5)
        func f(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
            TestSupport.dot(Linear.forwardNaive(batch: n, inFeatures: i, outFeatures: o, input: x, weight: w, bias: b), r)
        }
        #expect(TestSupport.gradientError(ref.input, TestSupport.numericGradient(xd) { f($0, wd, bd) }) < 1e-6)
        #expect(TestSupport.gradientError(ref.weight, TestSupport.numericGradient(wd) { f(xd, $0, bd) }) < 1e-6)
        #expect(TestSupport.gradientError(ref.bias, TestSupport.numericGradient(bd) { f(xd, wd, $0) }) < 1e-6)
    }

    @Test("dropout keeps about 1-p, scales by 1/(1-p), is reproducible per seed")
    func dropout() throws {
        let count = 20_000, p: Float = 0.3
        let x = [Float](repeating: 1, count: count)
        var y = x, mask = x, y2 = x, mask2 = x
        var rng = SplitMix64(seed: 42), rng2 = SplitMix64(seed: 42)
        try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in try mask.withUnsafeMutableBufferPointer { try Dropout.forward(probability: p, input: xp, output: yp, mask: $0, rng: &rng) } }
            try y2.withUnsafeMutableBufferPointer { yp in try mask2.withUnsafeMutableBufferPointer { try Dropout.forward(probability: p, input: xp, output: yp, mask: $0, rng: &rng2) } }
        }
        #expect(y == y2)
        let kept = Float(mask.filter { $0 != 0 }.count) / Float(count)
        #expect(abs(kept - 0.7) < 0.02)
        #expect(mask.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
        let dy = TestSupport.randomFloats(count, seed: 13)
        var dx = dy
        try mask.withUnsafeBufferPointer { mp in try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { try Dropout.backward(mask: mp, outputGrad: dyp, inputGrad: $0) } } }
        #expect(dx == Dropout.backwardNaive(mask: mask, outputGrad: dy))
        // With the mask fixed, dropout is linear: its gradient is the mask (checked by finite differences).
        let small = Array(mask.prefix(10)).map(Double.init), r = Array(dy.prefix(10)).map(Double.init)
        let num = TestSupport.numericGradient(Array(repeating: 0.5, count: 10)) { TestSupport.dot(Dropout.forwardNaive(input: $0, mask: small), r) }
        #expect(TestSupport.gradientError(Dropout.backwardNaive(mask: small, outputGrad: r), num) < 1e-6)
    }

    @Test("zero-pad shortcut (option A) and residual add")
    func shortcut() throws {
        let g = ZeroPadShortcutGeometry(batch: 2, inChannels: 4, inHeight: 6, inWidth: 6, stride: 2, padBefore: 2, padAfter: 2)
        let x = TestSupport.randomFloats(g.inputCount, seed: 14), dy = TestSupport.randomFloats(g.outputCount, seed: 15)
        var y = [Float](repeating: .nan, count: g.outputCount), dx = [Float](repeating: .nan, count: g.inputCount)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try ZeroPadShortcut.forward(g, input: xp, output: $0) } }
        try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { try ZeroPadShortcut.backward(g, outputGrad: dyp, inputGrad: $0) } }
        let xd = x.map(Double.init), r = dy.map(Double.init)
        #expect(g.outputShape == [2, 8, 3, 3])
        #expect(TestSupport.relativeError(y, ZeroPadShortcut.forwardNaive(g, input: xd)) == 0)
        let ref = ZeroPadShortcut.backwardNaive(g, outputGrad: r)
        #expect(TestSupport.relativeError(dx, ref) == 0)
        #expect(TestSupport.gradientError(ref, TestSupport.numericGradient(xd) { TestSupport.dot(ZeroPadShortcut.forwardNaive(g, input: $0), r) }) < 1e-6)

        let a = TestSupport.randomFloats(10, seed: 16), b = TestSupport.randomFloats(10, seed: 17)
        var s = a
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try s.withUnsafeMutableBufferPointer { try ResidualAdd.forward(ap, bp, output: $0) } } }
        #expect(s == ResidualAdd.forwardNaive(a, b))
        #expect(throws: ShapeError.self) {
            try a.withUnsafeBufferPointer { ap in try Array(b.prefix(9)).withUnsafeBufferPointer { bp in try s.withUnsafeMutableBufferPointer { try ResidualAdd.forward(ap, bp, output: $0) } } }
        }
    }

    @Test("softmax cross-entropy with and without label smoothing", arguments: [Float(0), 0.1])
    func crossEntropy(eps: Float) throws {
        let (n, c) = (4, 5)
        let z = TestSupport.randomFloats(n * c, seed: 18, scale: 3), labels: [Int32] = [0, 4, 2, 2]
        var grad = [Float](repeating: 0, count: n * c)
        let loss = try z.withUnsafeBufferPointer { zp in try labels.withUnsafeBufferPointer { lp in try grad.withUnsafeMutableBufferPointer {
            try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: c, logits: zp, labels: lp, labelSmoothing: eps, logitsGrad: $0) } } }
        let zd = z.map(Double.init), ld = labels.map(Int.init)
        let ref = SoftmaxCrossEntropy.lossNaive(batch: n, classes: c, logits: zd, labels: ld, labelSmoothing: Double(eps))
        #expect(abs(Double(loss) - ref) / ref < 1e-5)
        let gref = SoftmaxCrossEntropy.gradNaive(batch: n, classes: c, logits: zd, labels: ld, labelSmoothing: Double(eps))
        #expect(TestSupport.relativeError(grad, gref) <= 1e-5)
        let num = TestSupport.numericGradient(zd) { SoftmaxCrossEntropy.lossNaive(batch: n, classes: c, logits: $0, labels: ld, labelSmoothing: Double(eps)) }
        #expect(TestSupport.gradientError(gref, num) < 1e-6)
    }

    @Test("a label out of range is an error, not a silent wrong loss")
    func labelOutOfRange() {
        let z = [Float](repeating: 0, count: 6), labels: [Int32] = [1, 3]
        #expect(throws: ShapeError.self) {
            try z.withUnsafeBufferPointer { zp in try labels.withUnsafeBufferPointer { try SoftmaxCrossEntropy.forwardBackward(batch: 2, classes: 3, logits: zp, labels: $0) } }
        }
    }

    @Test("SplitMix64 is deterministic and roughly uniform / normal")
    func rng() {
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
        var r = SplitMix64(seed: 1)
        let u = (0..<100_000).map { _ in Double(r.nextFloat()) }
        #expect(abs(u.reduce(0, +) / 1e5 - 0.5) < 0.01)
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let z = (0..<100_000).map { _ in Double(r.nextNormal()) }
        let mean = z.reduce(0, +) / 1e5, v = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 1e5
        #expect(abs(mean) < 0.02 && abs(v - 1) < 0.02)
    }
}

extension PoolGeometry: CustomTestStringConvertible {
    public var testDescription: String { "\(inputShape) k\(kernel) s\(stride)" }
}

@Suite("Soft-target cross-entropy")
struct SoftTargetTests {
    @Test("loss matches the naive twin and its gradient matches finite differences")
    func softTargets() throws {
        let (n, c) = (3, 4)
        let z = TestSupport.randomFloats(n * c, seed: 30, scale: 2)
        var q = TestSupport.randomFloats(n * c, seed: 31).map { exp($0) }
        for i in 0..<n { let s = q[(i * c)..<((i + 1) * c)].reduce(0, +); for j in 0..<c { q[i * c + j] /= s } }
        var g = [Float](repeating: 0, count: n * c)
        let loss = try z.withUnsafeBufferPointer { zp in try q.withUnsafeBufferPointer { qp in try g.withUnsafeMutableBufferPointer {
            try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: c, logits: zp, softTargets: qp, logitsGrad: $0) } } }
        let zd = z.map(Double.init), qd = q.map(Double.init)
        let ref = SoftmaxCrossEntropy.softLossNaive(batch: n, classes: c, logits: zd, targets: qd)
        #expect(abs(Double(loss) - ref) / ref < 1e-5)
        let num = TestSupport.numericGradient(zd) { SoftmaxCrossEntropy.softLossNaive(batch: n, classes: c, logits: $0, targets: qd) }
        #expect(TestSupport.gradientError(g.map(Double.init), num) < 1e-4)
    }
}
