import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimEngine
import DynaSlimImages
import DynaSlimNN
import DynaSlimTrain
import Foundation

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG and JPEG images with a checkpoint (dense, thinned, dynamic or FBS), through the engine.",
        discussion: """
            Each image is decoded (libpng, TurboJPEG), converted to the model's channels (gray or RGB), resized to its \
            input size (area averaging when shrinking, bilinear when enlarging) and normalized as its training data \
            was. Printed per image: the top classes with probabilities, the gated channels kept and the MACs spent on \
            it (dynamic models choose per image), and the engine's time for it (after one warm-up run). A file that \
            cannot be decoded gets an error line naming it; the others are still classified, and the exit status is 1.
            """)

    @Argument(help: "A .safetensors checkpoint.") var checkpoint: String
    @Argument(help: "PNG or JPEG files.") var images: [String] = []
    @Option(help: "Classes to list per image.") var top = 5
    @Option(help: "Engine threads.") var threads = 1
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image file") }
        try OptionCheck.closed("--top", top, 1, 1_000_000)
        try OptionCheck.closed("--threads", threads, 1, 256)
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let ctx = try CheckpointContext.load(checkpoint, model: nil, dataset: nil)
        let engine: InferenceEngine
        var predictorMacs = 0, fbsMacs: Double?
        if let fbs = try DynamicCheckpoint.loadFBS(checkpoint) {
            engine = try InferenceEngine(network: fbs.network, fbs: fbs, threads: threads)
            fbsMacs = fbs.macsPerImage
        } else if let (dyn, _) = try DynamicCheckpoint.load(checkpoint) {
            engine = try InferenceEngine(network: dyn.network, dynamic: dyn, threads: threads)
            predictorMacs = dyn.predictorMACs
        } else {
            engine = try InferenceEngine(network: ctx.network, threads: threads)
        }
        let cfg = engine.config, C = cfg.classes, L = engine.gateWidths.count
        // A thinned model is measured against its full-width architecture (channels and MACs).
        var fullConfig = cfg
        fullConfig.widths = nil
        let full = try ModelZoo.build(fullConfig)
        let fullMacs = full.macsPerImage, fullChannels = full.gated.reduce(0) { $0 + $1.bn.channels }
        let normalization = try ctx.normalization(dataPath: nil)
        guard normalization.mean.count == cfg.inputChannels else {
            throw CheckpointFitError(description: "\(checkpoint): its normalization has \(normalization.mean.count) channels, the model \(cfg.inputChannels)")
        }
        let names = DatasetCatalog.classNames(ctx.dataset).flatMap { $0.count == C ? $0 : nil } ?? (0..<C).map { "class \($0)" }
        var logits = [Float](repeating: 0, count: C), kept = [Int32](repeating: 0, count: max(1, L))
        var results: [[String: Any]] = [], failures = 0
        for file in images {
            do {
                let image = try ImageDecoder.decode(path: file, channels: cfg.inputChannels)
                let x = ModelInput.tensor(image, height: cfg.inputHeight, width: cfg.inputWidth, normalization: normalization)
                var ms = 0.0
                for pass in 0..<2 {   // a warm-up run, then the timed one
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try x.withUnsafeBufferPointer { xp in try logits.withUnsafeMutableBufferPointer { lp in try kept.withUnsafeMutableBufferPointer { kp in
                        try engine.run(images: xp, n: 1, logits: lp, kept: L > 0 ? kp : nil)
                    } } }
                    if pass == 1 { ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 }
                }
                let mx = logits.max()!, e = logits.map { expf($0 - mx) }, sum = e.reduce(0, +)
                let probabilities = e.map { $0 / sum }
                let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(min(top, C))
                let keptCounts = (0..<L).map { Int(kept[$0]) }
                let macs = fbsMacs ?? (engine.macs(kept: keptCounts) + Double(predictorMacs))
                results.append(["file": file, "ms": ms, "macs": macs, "dense_macs": fullMacs,
                                "kept_channels": keptCounts.reduce(0, +), "gated_channels": fullChannels,
                                "top": order.map { ["class": names[$0], "index": $0, "probability": Double(probabilities[$0])] as [String: Any] }])
            } catch {
                failures += 1
                results.append(["file": file, "error": "\(error)"])
                if !json { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
            }
        }
        if json {
            try printJSON(["checkpoint": checkpoint, "model": cfg.architecture, "dataset": ctx.dataset.rawValue, "results": results])
        } else {
            for r in results where r["error"] == nil {
                let topList = (r["top"] as! [[String: Any]]).map { String(format: "%@ %.1f%%", $0["class"] as! String, ($0["probability"] as! Double) * 100) }
                print("\(r["file"]!): " + topList.joined(separator: ", "))
                print(String(format: "  channels kept %d / %d, MACs %@ (dense %@, %.2fx), %.3f ms", r["kept_channels"] as! Int, r["gated_channels"] as! Int,
                             formatCount(Int(r["macs"] as! Double)), formatCount(r["dense_macs"] as! Int),
                             Double(r["dense_macs"] as! Int) / (r["macs"] as! Double), r["ms"] as! Double))
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
