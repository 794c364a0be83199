import Testing
@testable import DynaSlimCore

@Suite("BatchNorm2D")
struct BatchNormTests {
    static let geometries = [BatchNormGeometry(batch: 4, channels: 3, plane: 5), BatchNormGeometry(batch: 2, channels: 70, plane: 2000)]

    @Test("training forward and running statistics match the naive twin (PyTorch semantics)", arguments: geometries)
    func trainingForward(g: BatchNormGeometry) throws {
        let x = TestSupport.randomFloats(g.count, seed: 1, scale: 2).map { $0 + 0.5 }
        let gamma = TestSupport.randomFloats(g.channels, seed: 2), beta = TestSupport.randomFloats(g.channels, seed: 3)
        var rm = [Float](repeating: 0.2, count: g.channels), rv = [Float](repeating: 1.5, count: g.channels)
        var y = [Float](repeating: .nan, count: g.count), mean = [Float](repeating: 0, count: g.channels), inv = mean
        try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try beta.withUnsafeBufferPointer { bp in
            try y.withUnsafeMutableBufferPointer { yp in try mean.withUnsafeMutableBufferPointer { mp in try inv.withUnsafeMutableBufferPointer { ip in
                try rm.withUnsafeMutableBufferPointer { rmp in try rv.withUnsafeMutableBufferPointer { rvp in
                    try BatchNorm2D.forwardTraining(g, input: xp, gamma: gp, beta: bp, output: yp, savedMean: mp, savedInvStd: ip,
                                                   runningMean: rmp, runningVar: rvp)
                } }
            } } }
        } } }
        let ref = BatchNorm2D.forwardTrainingNaive(g, input: x.map(Double.init), gamma: gamma.map(Double.init), beta: beta.map(Double.init),
                                                   runningMean: [Double](repeating: 0.2, count: g.channels),
                                                   runningVar: [Double](repeating: 1.5, count: g.channels))
        #expect(TestSupport.relativeError(y, ref.output) <= 1e-5)
        #expect(TestSupport.relativeError(rm, ref.runningMean) <= 1e-5)
        #expect(TestSupport.relativeError(rv, ref.runningVar) <= 1e-5)
        #expect(TestSupport.relativeError(mean, ref.mean) <= 1e-5)
    }

    @Test("training backward matches the naive twin", arguments: geometries)
    func trainingBackward(g: BatchNormGeometry) throws {
        let x = TestSupport.randomFloats(g.count, seed: 4), gamma = TestSupport.randomFloats(g.channels, seed: 5)
        let beta = [Float](repeating: 0, count: g.channels), dy = TestSupport.randomFloats(g.count, seed: 6)
        var rm = [Float](repeating: 0, count: g.channels), rv = [Float](repeating: 1, count: g.channels)
        var y = [Float](repeating: 0, count: g.count), mean = rm, inv = rm
        var dx = [Float](repeating: .nan, count: g.count), dg = [Float](repeating: .nan, count: g.channels), db = dg
        try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try beta.withUnsafeBufferPointer { bp in
            try y.withUnsafeMutableBufferPointer { yp in try mean.withUnsafeMutableBufferPointer { mp in try inv.withUnsafeMutableBufferPointer { ip in
                try rm.withUnsafeMutableBufferPointer { rmp in try rv.withUnsafeMutableBufferPointer { rvp in
                    try BatchNorm2D.forwardTraining(g, input: xp, gamma: gp, beta: bp, output: yp, savedMean: mp, savedInvStd: ip,
                                                   runningMean: rmp, runningVar: rvp)
                } }
                try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { dxp in
                    try dg.withUnsafeMutableBufferPointer { dgp in try db.withUnsafeMutableBufferPointer { dbp in
                        try BatchNorm2D.backwardTraining(g, input: xp, gamma: gp, savedMean: UnsafeBufferPointer(mp), savedInvStd: UnsafeBufferPointer(ip),
                                                        outputGrad: dyp, inputGrad: dxp, gammaGrad: dgp, betaGrad: dbp)
                    } }
                } }
            } } }
        } } }
        let ref = BatchNorm2D.backwardTrainingNaive(g, input: x.map(Double.init), gamma: gamma.map(Double.init), outputGrad: dy.map(Double.init))
        #expect(TestSupport.relativeError(dx, ref.input) <= 1e-4)
        #expect(TestSupport.relativeError(dg, ref.gamma) <= 1e-4)
        #expect(TestSupport.relativeError(db, ref.beta) <= 1e-4)
    }

    @Test("naive training backward matches finite differences")
    func trainingBackwardFiniteDifferences() {
        let g = BatchNormGeometry(batch: 3, channels: 2, plane: 4)
        let x = TestSupport.randomFloats(g.count, seed: 7).map(Double.init)
        let gamma = TestSupport.randomFloats(g.channels, seed: 8).map(Double.init)
        let beta = TestSupport.randomFloats(g.channels, seed: 9).map(Double.init)
        let r = TestSupport.randomFloats(g.count, seed: 10).map(Double.init)
        let zeros = [Double](repeating: 0, count: g.channels), ones = [Double](repeating: 1, count: g.channels)
        func loss(_ x: [Double], _ gm: [Double], _ bt: [Double]) -> Double {
            TestSupport.dot(BatchNorm2D.forwardTrainingNaive(g, input: x, gamma: gm, beta: bt, runningMean: zeros, runningVar: ones).output, r)
        }
        let a = BatchNorm2D.backwardTrainingNaive(g, input: x, gamma: gamma, outputGrad: r)
        #expect(TestSupport.gradientError(a.input, TestSupport.numericGradient(x) { loss($0, gamma, beta) }) < 1e-5)
        #expect(TestSupport.gradientError(a.gamma, TestSupport.numericGradient(gamma) { loss(x, $0, beta) }) < 1e-5)
        #expect(TestSupport.gradientError(a.beta, TestSupport.numericGradient(beta) { loss(x, gamma, $0) }) < 1e-5)
    }

    @Test("eval forward uses running statistics; eval backward matches finite differences")
    func inference() throws {
        let g = BatchNormGeometry(batch: 2, channels: 3, plane: 4)
        let x = TestSupport.randomFloats(g.count, seed: 11), gamma = TestSupport.randomFloats(g.channels, seed: 12)
        let beta = TestSupport.randomFloats(g.channels, seed: 13)
        let rm: [Float] = [0.1, -0.3, 0.5], rv: [Float] = [0.5, 2.0, 1.2]
        var y = [Float](repeating: 0, count: g.count)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
            try BatchNorm2D.forwardInference(g, input: xp, gamma: gamma.withUnsafeBufferPointer { $0 }, beta: beta.withUnsafeBufferPointer { $0 },
                                            runningMean: rm.withUnsafeBufferPointer { $0 }, runningVar: rv.withUnsafeBufferPointer { $0 }, output: yp)
        } }
        func evalNaive(_ x: [Double], _ gm: [Double]) -> [Double] {
            (0..<g.count).map { i in
                let c = (i / g.plane) % g.channels
                return gm[c] * (x[i] - Double(rm[c])) / (Double(rv[c]) + 1e-5).squareRoot() + Double(beta[c])
            }
        }
        #expect(TestSupport.relativeError(y, evalNaive(x.map(Double.init), gamma.map(Double.init))) <= 1e-5)
        let dy = TestSupport.randomFloats(g.count, seed: 14)
        var dx = [Float](repeating: 0, count: g.count), dg = [Float](repeating: 0, count: 3), db = dg
        try x.withUnsafeBufferPointer { xp in try dx.withUnsafeMutableBufferPointer { dxp in try dg.withUnsafeMutableBufferPointer { dgp in
            try db.withUnsafeMutableBufferPointer { dbp in
                try BatchNorm2D.backwardInference(g, input: xp, gamma: gamma.withUnsafeBufferPointer { $0 }, runningMean: rm.withUnsafeBufferPointer { $0 },
                                                 runningVar: rv.withUnsafeBufferPointer { $0 }, outputGrad: dy.withUnsafeBufferPointer { $0 },
                                                 inputGrad: dxp, gammaGrad: dgp, betaGrad: dbp)
            }
        } } }
        let r = dy.map(Double.init), xd = x.map(Double.init), gd = gamma.map(Double.init)
        #expect(TestSupport.gradientError(dx.map(Double.init), TestSupport.numericGradient(xd) { TestSupport.dot(evalNaive($0, gd), r) }) < 1e-4)
        #expect(TestSupport.gradientError(dg.map(Double.init), TestSupport.numericGradient(gd) { TestSupport.dot(evalNaive(xd, $0), r) }) < 1e-4)
    }

    @Test("mismatched gamma length throws")
    func shapeMismatch() {
        let g = BatchNormGeometry(batch: 1, channels: 3, plane: 2)
        let x = [Float](repeating: 0, count: 6), gamma = [Float](repeating: 1, count: 2)
        var y = x
        #expect(throws: ShapeError.self) {
            try y.withUnsafeMutableBufferPointer { yp in
                try BatchNorm2D.forwardInference(g, input: x.withUnsafeBufferPointer { $0 }, gamma: gamma.withUnsafeBufferPointer { $0 },
                                                beta: gamma.withUnsafeBufferPointer { $0 }, runningMean: gamma.withUnsafeBufferPointer { $0 },
                                                runningVar: gamma.withUnsafeBufferPointer { $0 }, output: yp)
            }
        }
    }
}

@Suite("BatchNorm2D fused with ReLU")
struct BatchNormReLUTests {
    @Test("fused forward = relu(bn(x)); fused backward = bn backward of dy * [y > 0]")
    func fused() throws {
        let g = BatchNormGeometry(batch: 3, channels: 4, plane: 300)
        let x = TestSupport.randomFloats(g.count, seed: 21), gamma = TestSupport.randomFloats(g.channels, seed: 22)
        let beta = TestSupport.randomFloats(g.channels, seed: 23), dy = TestSupport.randomFloats(g.count, seed: 24)
        var rm = [Float](repeating: 0, count: 4), rv = [Float](repeating: 1, count: 4), mean = rm, inv = rm
        var y = [Float](repeating: 0, count: g.count), dx = y, dg = rm, db = rm
        try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try beta.withUnsafeBufferPointer { bp in
            try y.withUnsafeMutableBufferPointer { yp in try mean.withUnsafeMutableBufferPointer { mp in try inv.withUnsafeMutableBufferPointer { ip in
                try rm.withUnsafeMutableBufferPointer { rmp in try rv.withUnsafeMutableBufferPointer { rvp in
                    try BatchNorm2D.forwardTraining(g, input: xp, gamma: gp, beta: bp, output: yp, savedMean: mp, savedInvStd: ip,
                                                   runningMean: rmp, runningVar: rvp, fuseReLU: true)
                } }
                try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { dxp in
                    try dg.withUnsafeMutableBufferPointer { dgp in try db.withUnsafeMutableBufferPointer { dbp in
                        try BatchNorm2D.backwardTraining(g, input: xp, gamma: gp, savedMean: UnsafeBufferPointer(mp), savedInvStd: UnsafeBufferPointer(ip),
                                                        outputGrad: dyp, inputGrad: dxp, gammaGrad: dgp, betaGrad: dbp, reluOutput: UnsafeBufferPointer(yp))
                    } }
                } }
            } } }
        } } }
        let xd = x.map(Double.init), gd = gamma.map(Double.init)
        let bnOut = BatchNorm2D.forwardTrainingNaive(g, input: xd, gamma: gd, beta: beta.map(Double.init),
                                                     runningMean: [0, 0, 0, 0], runningVar: [1, 1, 1, 1]).output
        #expect(TestSupport.relativeError(y, ReLU.forwardNaive(bnOut)) <= 1e-5)
        let masked = ReLU.backwardNaive(input: bnOut, outputGrad: dy.map(Double.init))
        let ref = BatchNorm2D.backwardTrainingNaive(g, input: xd, gamma: gd, outputGrad: masked)
        #expect(TestSupport.relativeError(dx, ref.input) <= 1e-4)
        #expect(TestSupport.relativeError(dg, ref.gamma) <= 1e-4)
        #expect(TestSupport.relativeError(db, ref.beta) <= 1e-4)
    }
}
