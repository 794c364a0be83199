// An in-memory labeled image set: uint8 pixels [N, C, H, W] and labels in 0..<classes.
import DynaSlimCore

public struct ImageDataset: Sendable {
    public var name: String
    public var images: [UInt8]
    public var labels: [Int32]
    public var shape: FeatureShape
    public var classes: Int
    public var classNames: [String]

    public init(name: String, images: [UInt8], labels: [Int32], shape: FeatureShape, classes: Int, classNames: [String]? = nil) throws {
        guard images.count == labels.count * shape.count else {
            throw DataError.shapeMismatch(file: name, message: "\(images.count) pixel bytes for \(labels.count) images of \(shape)")
        }
        self.name = name; self.images = images; self.labels = labels; self.shape = shape; self.classes = classes
        self.classNames = classNames ?? (0..<classes).map { "class \($0)" }
    }

    public var count: Int { labels.count }

    /// The first `n` images (for quick runs and tests).
    public func prefix(_ n: Int) -> ImageDataset {
        let k = min(n, count)
        return try! ImageDataset(name: name, images: Array(images[0..<(k * shape.count)]), labels: Array(labels[0..<k]),
                                 shape: shape, classes: classes, classNames: classNames)
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let P = shape.h * shape.w
        var mean = [Float](), std = [Float]()
        for c in 0..<shape.c {
            var s = 0.0, sq = 0.0
            for n in 0..<count {
                let base = (n * shape.c + c) * P
                var a: UInt64 = 0, b: UInt64 = 0
                for i in 0..<P { let v = UInt64(images[base + i]); a += v; b += v * v }
                s += Double(a); sq += Double(b)
            }
            let m = Double(count * P)
            let mu = s / m / 255, v = sq / m / 65025 - mu * mu
            mean.append(Float(mu)); std.append(Float(max(v, 1e-12).squareRoot()))
        }
        return (mean, std)
    }
}
