import Foundation
import Testing
import DynaSlimCore
import DynaSlimEngine
import DynaSlimIO
import DynaSlimNN
@testable import DynaSlimTrain

/// Checkpoints written before a change keep loading and giving the same logits after it, through the
/// training network and through the engine: the committed dense ResNet-20 (checkpoints/), the static-NS thin
/// model of the converged comparison, and a small dynamic and a small FBS checkpoint (Fixtures/compat/). The
/// expected logits were computed by the PyTorch package (python/dynaslim_torch, an independent implementation
/// held to the Swift side by TorchParityTests) on fixed random images, once, when the fixture was written;
/// 1e-4 absorbs the kernel variants (AVX-512, AVX2, portable) that sum in different orders.
@Suite("Checkpoint compatibility")
struct CheckpointCompatibilityTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/compat")

    @Test("committed checkpoints give their recorded logits, in the training network and the engine",
          arguments: ["c10-resnet20-restart3", "p30-ns50-s0", "dynamic-resnet8", "fbs-resnet8"])
    func recordedLogits(name: String) throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("logits.json"))) as! [String: Any]
        let entry = json[name] as! [String: Any]
        let path = CrashSafetyTests.repo.appendingPathComponent(entry["checkpoint"] as! String).path
        let expected = (entry["logits"] as! [[Double]]).flatMap { $0.map(Float.init) }
        let images = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).images.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let dynamic = try DynamicCheckpoint.load(path)?.model
        let fbs = try DynamicCheckpoint.loadFBS(path)
        let net = try dynamic?.network ?? fbs?.network ?? Checkpoint.load(path).network
        let n = images.count / net.config.inputShape.count, C = net.config.classes
        #expect(n == 4 && expected.count == n * C)
        let trained: [Float] = try images.withUnsafeBufferPointer { xp in
            if let dynamic { return Array(try dynamic.forward(images: xp, n: n, mode: .eval).buffer) }
            return Array(try net.forward(images: xp, n: n, mode: .eval).buffer)
        }
        dynamic?.clearMasks()
        let engine = try InferenceEngine(network: net, dynamic: dynamic, fbs: fbs, threads: 1)
        var fromEngine = [Float](repeating: 0, count: n * C)
        try images.withUnsafeBufferPointer { xp in try fromEngine.withUnsafeMutableBufferPointer { try engine.run(images: xp, n: n, logits: $0) } }
        for (label, got) in [("network", trained), ("engine", fromEngine)] {
            let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4, "\(name) \(label): logits differ from the recorded ones by \(worst)")
        }
    }
}
