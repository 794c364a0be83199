// `dynaslim bench infer`: the engine's latency and throughput on real test images for a model
// and its dense reference, measured in the same run (interleaved, so drift hits both alike).
// For a dynamic model the reference is its own backbone at full width; the FLOP speed-up counts
// the predictor and the channels each measured image actually kept.
import DynaSlimCore
import DynaSlimData
import DynaSlimEngine
import DynaSlimTrain
import DynaSlimNN
import Dispatch

public struct InferenceBenchmarkResult: Codable, Sendable {
    public var batch: Int
    public var threads: Int
    public var modelMs: Double
    public var imagesPerSecond: Double
    public var denseMs: Double
    public var denseImagesPerSecond: Double
    public var modelMacsPerImage: Double
    public var denseMacsPerImage: Double
    public var measuredSpeedup: Double
    public var flopSpeedup: Double
    enum CodingKeys: String, CodingKey {
        case batch, threads, modelMs = "model_ms", imagesPerSecond = "images_per_second", denseMs = "dense_ms"
        case denseImagesPerSecond = "dense_images_per_second", modelMacsPerImage = "model_macs_per_image"
        case denseMacsPerImage = "dense_macs_per_image", measuredSpeedup = "measured_speedup", flopSpeedup = "flop_speedup"
    }
}

public enum InferenceBenchmark {
    /// `predictorMacs` is added to the model's MACs (dynamic models).
    public static func run(model: InferenceEngine, dense: InferenceEngine, predictorMacs: Int = 0, dataset: ImageDataset,
                           normalization: Normalization, batch: Int, repeats: Int = 30, warmup: Int = 3) throws -> InferenceBenchmarkResult {
        BLAS.setThreadCount(1)
        try DataCompatibility.check(model: model.config, dataset: dataset, normalization: normalization)
        try DataCompatibility.check(model: dense.config, dataset: dataset)
        guard batch > 0, repeats > 0 else { throw EngineBenchmarkError("batch \(batch) and repeats \(repeats) must be positive") }
        let loader = BatchLoader(dataset: dataset, batchSize: batch, shuffle: false, normalization: normalization, dropLast: true)
        guard loader.batchesPerEpoch > 0 else { throw EngineBenchmarkError("the test set has fewer than \(batch) images") }
        loader.start(epoch: 0)
        var batches: [[Float]] = []
        while batches.count < min(16, loader.batchesPerEpoch), let b = loader.next() { batches.append(Array(b.images.prefix(batch * dataset.shape.count))) }
        let classes = model.config.classes, L = model.gateWidths.count
        var logits = [Float](repeating: 0, count: batch * classes), kept = [Int32](repeating: 0, count: max(1, batch * L))
        var macsSum = 0.0, macsCount = 0
        func time(_ e: InferenceEngine, _ i: Int, record: Bool) throws -> Double {
            let x = batches[i % batches.count]
            let t0 = DispatchTime.now().uptimeNanoseconds
            try x.withUnsafeBufferPointer { xp in try logits.withUnsafeMutableBufferPointer { lp in try kept.withUnsafeMutableBufferPointer {
                try e.run(images: xp, n: batch, logits: lp, kept: L > 0 ? $0 : nil) } } }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
            if record && i < batches.count {
                for j in 0..<batch { macsSum += e.macs(kept: (0..<L).map { Int(kept[j * L + $0]) }); macsCount += 1 }
            }
            return dt
        }
        for i in 0..<warmup { _ = try time(model, i, record: false); _ = try time(dense, i, record: false) }
        var mt: [Double] = [], dt: [Double] = []
        for i in 0..<max(repeats, 1) {
            // Alternate which engine goes first: the second of a pair runs with the first's data in
            // the caches, which measurably favors it (~10% for a model timed against itself).
            if i % 2 == 0 {
                mt.append(try time(model, i, record: true))
                dt.append(try time(dense, i, record: false))
            } else {
                dt.append(try time(dense, i, record: false))
                mt.append(try time(model, i, record: true))
            }
        }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let m = median(mt), d = median(dt)
        let modelMacs = (macsCount > 0 ? macsSum / Double(macsCount) : Double(model.denseMacsPerImage)) + Double(predictorMacs)
        return InferenceBenchmarkResult(batch: batch, threads: model.threads, modelMs: m, imagesPerSecond: Double(batch) / m * 1e3,
                                        denseMs: d, denseImagesPerSecond: Double(batch) / d * 1e3, modelMacsPerImage: modelMacs,
                                        denseMacsPerImage: Double(dense.denseMacsPerImage), measuredSpeedup: d / m,
                                        flopSpeedup: Double(dense.denseMacsPerImage) / modelMacs)
    }
}

public struct EngineBenchmarkError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
