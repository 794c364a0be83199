import Foundation
import Testing
import DynaSlimCore
import DynaSlimData
import DynaSlimEngine
import DynaSlimIO
@testable import DynaSlimTrain

/// `dynaslim export --onnx` on the committed dense ResNet-20 and its 50%-pruned thin model: onnxruntime's
/// logits on real CIFAR-10 test images (pixels in [0, 1]; the graph normalizes) match the engine's within 1e-4.
@Suite("ONNX export", .serialized)
struct OnnxExportTests {
    static let repo = CrashSafetyTests.repo
    static let cifarTest = repo.deletingLastPathComponent().appendingPathComponent("shared/data/cifar-10-batches-bin/test_batch.bin").path
    static var skipReason: String? {
        if let r = CrashSafetyTests.skipReason, !r.contains("Fashion") { return r }
        if !FileManager.default.fileExists(atPath: cifarTest) { return "no CIFAR-10 test batch at \(cifarTest)" }
        return missingPythonModules("onnx, onnxruntime, safetensors, numpy", install: "onnx onnxruntime safetensors numpy")
    }

    func run(_ executable: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("dense and thinned ResNet-20: onnxruntime's logits match the engine's on 64 real test images")
    func matchesEngine() throws {
        if let reason = Self.skipReason { print("skipped: \(reason)"); return }
        let dir = NSTemporaryDirectory() + "dynaslim-onnx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let dense = Self.repo.appendingPathComponent("checkpoints/c10-resnet20-restart3/model.safetensors").path
        let thin = dir + "/thin.safetensors"
        let bin = CrashSafetyTests.binary
        #expect(try run(bin, ["prune", dense, "--ratio", "0.5", "--out", thin]).0 == 0)
        let n = 64
        let test = try DatasetCatalog.load(.cifar10, path: (Self.cifarTest as NSString).deletingLastPathComponent, train: false).prefix(n)
        for ckpt in [dense, thin] {
            let onnx = dir + "/" + ((ckpt as NSString).lastPathComponent as NSString).deletingPathExtension + ".onnx"
            let (status, output) = try run(bin, ["export", ckpt, "--onnx", onnx])
            #expect(status == 0, "export: \(output)")
            let (s2, json) = try run("/usr/bin/env", ["python3", Self.repo.appendingPathComponent("scripts/onnx_logits.py").path, onnx, Self.cifarTest, "\(n)"])
            #expect(s2 == 0, "onnx_logits: \(json)")
            let ort = (try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any])["logits"] as! [[Double]]
            let loaded = try Checkpoint.load(ckpt)
            let normalization = try JSONDecoder().decode(Normalization.self, from: Data(loaded.metadata["dynaslim.normalization"]!.utf8))
            let engine = try InferenceEngine(network: loaded.network, threads: 1)
            let loader = BatchLoader(dataset: test, batchSize: n, shuffle: false, normalization: normalization)
            loader.start(epoch: 0)
            let batch = loader.next()!
            var logits = [Float](repeating: .nan, count: n * 10)
            try batch.images.withUnsafeBufferPointer { x in try logits.withUnsafeMutableBufferPointer {
                try engine.run(images: UnsafeBufferPointer(rebasing: x[0..<(n * 3072)]), n: n, logits: $0) } }
            var worst = 0.0
            for i in 0..<n { for c in 0..<10 { worst = max(worst, abs(Double(logits[i * 10 + c]) - ort[i][c])) } }
            #expect(worst < 1e-4, "\(ckpt): max |engine - onnxruntime| = \(worst)")
            print("onnx export: \((ckpt as NSString).lastPathComponent) max |engine - onnxruntime| over \(n) images = \(worst)")
        }
        // A dynamic checkpoint's refusal names it.
        let fake = dir + "/dyn.safetensors"
        var (tensors, meta) = try SafeTensors.read(dense)
        meta["dynaslim.dynamic"] = "{}"
        tensors = tensors.filter { !$0.name.hasPrefix("predictor.") }
        try SafeTensors.write(tensors, metadata: meta, to: fake)
        let (s3, refusal) = try run(bin, ["export", fake, "--onnx", dir + "/dyn.onnx"])
        #expect(s3 != 0 && refusal.contains(fake), "dynamic export: \(refusal)")
    }
}
