// `dynaslim bench infer`: eval-mode latency and throughput on real test images, optionally with
// a reference model measured in the same run (interleaved, so drift hits both alike).
import DynaSlimCore
import DynaSlimData
import DynaSlimNN
import Dispatch

public struct InferenceBenchmarkResult: Codable, Sendable {
    public var batch: Int
    public var msPerBatch: Double
    public var imagesPerSecond: Double
    public var macsPerImage: Int
    public var referenceMsPerBatch: Double?
    public var referenceMacsPerImage: Int?
    public var measuredSpeedup: Double?
    public var flopSpeedup: Double?
    enum CodingKeys: String, CodingKey {
        case batch, msPerBatch = "ms_per_batch", imagesPerSecond = "images_per_second", macsPerImage = "macs_per_image"
        case referenceMsPerBatch = "reference_ms_per_batch", referenceMacsPerImage = "reference_macs_per_image"
        case measuredSpeedup = "measured_speedup", flopSpeedup = "flop_speedup"
    }
}

public enum InferenceBenchmark {
    public static func run(model: Network, reference: Network?, dataset: ImageDataset, normalization: Normalization,
                           batch: Int, repeats: Int = 30, warmup: Int = 3) throws -> InferenceBenchmarkResult {
        BLAS.setThreadCount(1)
        let loader = BatchLoader(dataset: dataset, batchSize: batch, shuffle: false, normalization: normalization, dropLast: true)
        precondition(loader.batchesPerEpoch > 0, "the test set has fewer than \(batch) images")
        // Pre-load distinct real batches so the timed loop does no data work.
        loader.start(epoch: 0)
        var batches: [[Float]] = []
        while batches.count < min(8, loader.batchesPerEpoch), let b = loader.next() { batches.append(Array(b.images.prefix(batch * dataset.shape.count))) }
        func time(_ net: Network, _ i: Int) throws -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try batches[i % batches.count].withUnsafeBufferPointer { try net.forward(images: $0, n: batch, mode: .eval) }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
        }
        for i in 0..<warmup { _ = try time(model, i); if let reference { _ = try time(reference, i) } }
        var mt: [Double] = [], rt: [Double] = []
        for i in 0..<repeats {
            mt.append(try time(model, i))
            if let reference { rt.append(try time(reference, i)) }
        }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let m = median(mt)
        var r = InferenceBenchmarkResult(batch: batch, msPerBatch: m, imagesPerSecond: Double(batch) / m * 1e3, macsPerImage: model.macsPerImage)
        if let reference {
            let ref = median(rt)
            r.referenceMsPerBatch = ref
            r.referenceMacsPerImage = reference.macsPerImage
            r.measuredSpeedup = ref / m
            r.flopSpeedup = Double(reference.macsPerImage) / Double(model.macsPerImage)
        }
        return r
    }
}
