import Testing
@testable import DynaSlimCore

@Suite("Conv2D")
struct Conv2DTests {
    // Shapes covering: 3x3 pad 1, stride 2, pointwise 1x1, unpadded 3x3, non-square input,
    // odd batch (uneven thread split), and tiny planes (several samples per GEMM).
    static let geometries: [Conv2DGeometry] = [
        Conv2DGeometry(batch: 3, inChannels: 3, inHeight: 8, inWidth: 8, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 4, inHeight: 9, inWidth: 7, outChannels: 6, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 5, inChannels: 5, inHeight: 4, inWidth: 4, outChannels: 3, kernel: 1, stride: 1, padding: 0),
        Conv2DGeometry(batch: 2, inChannels: 2, inHeight: 6, inWidth: 5, outChannels: 3, kernel: 3, stride: 1, padding: 0),
        Conv2DGeometry(batch: 7, inChannels: 3, inHeight: 3, inWidth: 3, outChannels: 2, kernel: 1, stride: 2, padding: 0),
        Conv2DGeometry(batch: 9, inChannels: 2, inHeight: 2, inWidth: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1),
        // Shifted-copy im2col cases: stride-2 "same" 3x3, 5x5 pad 2, 1x1 stride 2, tiny planes.
        Conv2DGeometry(batch: 3, inChannels: 3, inHeight: 8, inWidth: 6, outChannels: 4, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 2, inHeight: 7, inWidth: 6, outChannels: 3, kernel: 5, stride: 1, padding: 2),
        Conv2DGeometry(batch: 4, inChannels: 3, inHeight: 4, inWidth: 4, outChannels: 5, kernel: 1, stride: 2, padding: 0),
        Conv2DGeometry(batch: 5, inChannels: 2, inHeight: 2, inWidth: 2, outChannels: 2, kernel: 3, stride: 2, padding: 1),
        Conv2DGeometry(batch: 1, inChannels: 2, inHeight: 1, inWidth: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1),
        // Large plane: the direct 3x3 kernel's weight gradient path (>= 512 pixels), width not a multiple of 8.
        Conv2DGeometry(batch: 3, inChannels: 2, inHeight: 20, inWidth: 27, outChannels: 5, kernel: 3, stride: 1, padding: 1),
        // 16-pixel-wide rows: with AVX-512 the 16-lane weight gradient from 256 pixels (16x16), grouped samples,
        // and 32-wide rows with an output-channel count that leaves a tile of 1 (6 + 6 + 1).
        Conv2DGeometry(batch: 5, inChannels: 3, inHeight: 16, inWidth: 16, outChannels: 7, kernel: 3, stride: 1, padding: 1),
        Conv2DGeometry(batch: 2, inChannels: 2, inHeight: 32, inWidth: 32, outChannels: 13, kernel: 3, stride: 1, padding: 1),
    ]

    @Test("fast forward matches the naive twin", arguments: geometries)
    func forwardMatchesNaive(g: Conv2DGeometry) throws {
        let x = TestSupport.randomFloats(g.inputCount, seed: 1), w = TestSupport.randomFloats(g.weightCount, seed: 2)
        let b = TestSupport.randomFloats(g.outChannels, seed: 3)
        var y = [Float](repeating: .nan, count: g.outputCount)
        let ws = Workspace(threads: 2)
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try b.withUnsafeBufferPointer { bp in
            try y.withUnsafeMutableBufferPointer { yp in try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, workspace: ws) }
        } } }
        let ref = Conv2D.forwardNaive(g, input: x.map(Double.init), weight: w.map(Double.init), bias: b.map(Double.init))
        #expect(TestSupport.relativeError(y, ref) <= 1e-5)
    }

    @Test("fast backward matches the naive twin", arguments: geometries)
    func backwardMatchesNaive(g: Conv2DGeometry) throws {
        let x = TestSupport.randomFloats(g.inputCount, seed: 4), w = TestSupport.randomFloats(g.weightCount, seed: 5)
        let dy = TestSupport.randomFloats(g.outputCount, seed: 6)
        var dx = [Float](repeating: .nan, count: g.inputCount), dw = [Float](repeating: .nan, count: g.weightCount)
        var db = [Float](repeating: .nan, count: g.outChannels)
        let ws = Workspace(threads: 2)
        for _ in 0..<2 {  // twice: workspace reuse must not leak state between calls
            try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
                try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in try db.withUnsafeMutableBufferPointer { dbp in
                    try Conv2D.backward(g, input: xp, weight: wp, outputGrad: dyp, inputGrad: dxp, weightGrad: dwp, biasGrad: dbp, workspace: ws)
                } } }
            } } }
        }
        let ref = Conv2D.backwardNaive(g, input: x.map(Double.init), weight: w.map(Double.init), outputGrad: dy.map(Double.init))
        #expect(TestSupport.relativeError(dx, ref.input) <= 1e-5)
        #expect(TestSupport.relativeError(dw, ref.weight) <= 1e-5)
        #expect(TestSupport.relativeError(db, ref.bias) <= 1e-5)
    }

    @Test("naive backward matches finite differences", arguments: Array(geometries.prefix(4)))
    func backwardMatchesFiniteDifferences(g: Conv2DGeometry) {
        let x = TestSupport.randomFloats(g.inputCount, seed: 7).map(Double.init)
        let w = TestSupport.randomFloats(g.weightCount, seed: 8).map(Double.init)
        let b = TestSupport.randomFloats(g.outChannels, seed: 9).map(Double.init)
        let r = TestSupport.randomFloats(g.outputCount, seed: 10).map(Double.init)  // L = <r, y>, so dL/dy = r
        let analytic = Conv2D.backwardNaive(g, input: x, weight: w, outputGrad: r)
        let ndx = TestSupport.numericGradient(x) { TestSupport.dot(Conv2D.forwardNaive(g, input: $0, weight: w, bias: b), r) }
        let ndw = TestSupport.numericGradient(w) { TestSupport.dot(Conv2D.forwardNaive(g, input: x, weight: $0, bias: b), r) }
        let ndb = TestSupport.numericGradient(b) { TestSupport.dot(Conv2D.forwardNaive(g, input: x, weight: w, bias: $0), r) }
        #expect(TestSupport.gradientError(analytic.input, ndx) < 1e-6)
        #expect(TestSupport.gradientError(analytic.weight, ndw) < 1e-6)
        #expect(TestSupport.gradientError(analytic.bias, ndb) < 1e-6)
    }

    @Test("a wrong buffer size throws an error naming the shapes")
    func shapeMismatchThrows() {
        let g = Conv2DGeometry(batch: 2, inChannels: 3, inHeight: 4, inWidth: 4, outChannels: 5, kernel: 3, padding: 1)
        let x = [Float](repeating: 0, count: g.inputCount - 1), w = [Float](repeating: 0, count: g.weightCount)
        var y = [Float](repeating: 0, count: g.outputCount)
        let ws = Workspace(threads: 1)
        do {
            try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in
                try y.withUnsafeMutableBufferPointer { yp in try Conv2D.forward(g, input: xp, weight: wp, output: yp, workspace: ws) }
            } }
            Issue.record("expected a shape error")
        } catch {
            #expect("\(error)".contains("input has 95 elements, expected 96 for shape [2, 3, 4, 4]"))
        }
    }
}

extension Conv2DGeometry: CustomTestStringConvertible {
    public var testDescription: String { description }
}
