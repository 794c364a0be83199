import Foundation
import Testing
@testable import DynaSlimCore

/// Knowledge distillation's loss against its naive twin, its gradient against finite differences
/// of the twin (Double), and the properties the trainer relies on.
@Suite("Knowledge distillation")
struct DistillationTests {
    func run(_ z: [Float], _ t: [Float], n: Int, c: Int, temperature: Float) throws -> (Float, [Float]) {
        var g = [Float](repeating: .nan, count: n * c)
        let loss = try z.withUnsafeBufferPointer { zp in try t.withUnsafeBufferPointer { tp in try g.withUnsafeMutableBufferPointer {
            try KnowledgeDistillation.forwardBackward(batch: n, classes: c, logits: zp, teacherLogits: tp, temperature: temperature, logitsGrad: $0) } } }
        return (loss, g)
    }

    @Test("loss matches the naive twin and the gradient matches finite differences", arguments: [Float(1), 2, 4, 8])
    func gradient(temperature: Float) throws {
        let (n, c) = (3, 5)
        let z = TestSupport.randomFloats(n * c, seed: 40, scale: 3), t = TestSupport.randomFloats(n * c, seed: 41, scale: 3)
        let (loss, g) = try run(z, t, n: n, c: c, temperature: temperature)
        let zd = z.map(Double.init), td = t.map(Double.init), T = Double(temperature)
        let ref = KnowledgeDistillation.lossNaive(batch: n, classes: c, logits: zd, teacherLogits: td, temperature: T)
        #expect(abs(Double(loss) - ref) <= 1e-5 * max(1, ref))
        let num = TestSupport.numericGradient(zd) { KnowledgeDistillation.lossNaive(batch: n, classes: c, logits: $0, teacherLogits: td, temperature: T) }
        #expect(TestSupport.gradientError(g.map(Double.init), num) < 1e-4)
    }

    @Test("zero loss and zero gradient when the student equals the teacher; positive otherwise")
    func fixedPoint() throws {
        let (n, c) = (2, 4)
        let z = TestSupport.randomFloats(n * c, seed: 42, scale: 2)
        let (loss, g) = try run(z, z, n: n, c: c, temperature: 4)
        #expect(abs(loss) < 1e-6)
        #expect(g.allSatisfy { abs($0) < 1e-7 })
        let (other, _) = try run(z, z.reversed(), n: n, c: c, temperature: 4)
        #expect(other > 0)
    }

    @Test("rejects a non-positive temperature and mismatched shapes")
    func errors() throws {
        let z = [Float](repeating: 0, count: 8)
        #expect(throws: ShapeError.self) { _ = try run(z, z, n: 2, c: 4, temperature: 0) }
        #expect(throws: ShapeError.self) { _ = try run(z, Array(z.prefix(4)), n: 2, c: 4, temperature: 4) }
    }
}
