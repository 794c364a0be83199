// `dynaslim bench train`: training throughput (forward + backward + SGD step) on synthetic data,
// median over timed steps after warm-up.
import DynaSlimCore
import DynaSlimNN
import Dispatch

public struct TrainBenchmarkResult: Codable, Sendable {
    public var model: String
    public var input: String
    public var batchSize: Int
    public var threads: Int
    public var medianStepMs: Double
    public var imagesPerSecond: Double
    public var macsPerImage: Int
    enum CodingKeys: String, CodingKey {
        case model, input, batchSize = "batch_size", threads, medianStepMs = "median_step_ms", imagesPerSecond = "images_per_second"
        case macsPerImage = "macs_per_image"
    }
}

public enum TrainBenchmark {
    public static func run(model: ModelConfig, batchSize: Int, steps: Int = 10, warmup: Int = 3) throws -> TrainBenchmarkResult {
        BLAS.setThreadCount(1)
        let net = try ModelZoo.build(model)
        let sgd = SGD(parameters: net.namedParameters, config: SGDConfig())
        var rng = SplitMix64(seed: 3)
        let s = model.inputShape, C = model.classes
        let images = (0..<(batchSize * s.count)).map { _ in rng.nextNormal() }
        let labels = (0..<batchSize).map { _ in Int32(rng.nextInt(below: C)) }
        let grad = ScratchBuffer(capacity: batchSize * C)
        func step() throws {
            let logits = try images.withUnsafeBufferPointer { try net.forward(images: $0, n: batchSize, mode: .train) }
            _ = try labels.withUnsafeBufferPointer {
                try SoftmaxCrossEntropy.forwardBackward(batch: batchSize, classes: C, logits: logits.buffer, labels: $0,
                                                        logitsGrad: UnsafeMutableBufferPointer(start: grad.pointer, count: batchSize * C))
            }
            try net.backward(logitsGrad: Activation(n: batchSize, c: C, h: 1, w: 1, pointer: grad.pointer))
            sgd.step(learningRate: 0.01)
        }
        let t = try KernelBenchmark.medianSeconds(repeats: steps, warmup: warmup, step)
        return TrainBenchmarkResult(model: model.architecture, input: "\(s)", batchSize: batchSize, threads: Parallel.defaultThreadCount,
                                    medianStepMs: t * 1e3, imagesPerSecond: Double(batchSize) / t, macsPerImage: net.macsPerImage)
    }
}
