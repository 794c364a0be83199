// Test-set evaluation in eval mode: top-1 accuracy, per-class accuracy, mean loss.
import DynaSlimCore
import DynaSlimData
import DynaSlimNN

public struct EvalResult: Codable, Sendable {
    public var accuracy: Double
    public var loss: Double
    public var perClassAccuracy: [Double]
    public var count: Int
    /// Predicted class of every image, in dataset order.
    public var predictions: [Int]
}

/// A computation that should have given numbers gave NaN or infinity.
public struct NonFiniteResultError: Error, CustomStringConvertible {
    public let description: String
}

public enum Evaluator {
    /// Index of the largest logit of row `n`.
    public static func argmax(_ logits: UnsafePointer<Float>, row n: Int, classes: Int) -> Int {
        var best = 0
        for c in 1..<classes where logits[n * classes + c] > logits[n * classes + best] { best = c }
        return best
    }

    public static func evaluate(_ net: Network, dataset: ImageDataset, normalization: Normalization, batchSize: Int = 256) throws -> EvalResult {
        try DataCompatibility.check(model: net.config, dataset: dataset, normalization: normalization)
        let loader = BatchLoader(dataset: dataset, batchSize: max(1, batchSize), shuffle: false, normalization: normalization)
        loader.start(epoch: 0)
        let C = net.config.classes
        var correct = 0, total = 0, lossSum = 0.0
        var classCorrect = [Int](repeating: 0, count: C), classTotal = classCorrect
        var predictions = [Int](repeating: 0, count: dataset.count)
        while let batch = loader.next() {
            let n = batch.count
            let logits = try batch.images.withUnsafeBufferPointer { try net.forward(images: UnsafeBufferPointer(rebasing: $0[0..<(n * dataset.shape.count)]), n: n, mode: .eval) }
            let loss = try batch.labels.withUnsafeBufferPointer {
                try SoftmaxCrossEntropy.forwardBackward(batch: n, classes: C, logits: logits.buffer, labels: UnsafeBufferPointer(rebasing: $0[0..<n]))
            }
            lossSum += Double(loss) * Double(n)
            for j in 0..<n {
                let p = argmax(logits.pointer, row: j, classes: C), y = Int(batch.labels[j])
                predictions[batch.indices[j]] = p
                classTotal[y] += 1
                if p == y { correct += 1; classCorrect[y] += 1 }
            }
            total += n
        }
        guard (lossSum / Double(max(total, 1))).isFinite else {
            throw NonFiniteResultError(description: "the evaluation produced a non-finite loss (\(lossSum / Double(max(total, 1)))): the weights are broken")
        }
        return EvalResult(accuracy: Double(correct) / Double(max(total, 1)), loss: lossSum / Double(max(total, 1)),
                          perClassAccuracy: (0..<C).map { classTotal[$0] == 0 ? 0 : Double(classCorrect[$0]) / Double(classTotal[$0]) },
                          count: total, predictions: predictions)
    }
}
