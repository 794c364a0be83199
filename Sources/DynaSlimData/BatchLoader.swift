// Turns an ImageDataset into normalized Float batches [B, C, H, W], with seeded shuffling and
// augmentation (random crop with zero padding, horizontal flip), preparing the next batch on a
// background thread while the current one trains. Two batch buffers are reused: no allocation
// per batch. Every random choice derives from (seed, epoch, batch index), so an epoch's batches
// are identical whether the run was interrupted or not.
import DynaSlimCore
import Dispatch

public struct Augmentation: Codable, Equatable, Sendable {
    public var randomCrop: Bool
    public var cropPadding: Int
    public var horizontalFlip: Bool
    public init(randomCrop: Bool = false, cropPadding: Int = 4, horizontalFlip: Bool = false) {
        self.randomCrop = randomCrop; self.cropPadding = cropPadding; self.horizontalFlip = horizontalFlip
    }
    public static let none = Augmentation()
}

/// x_normalized = (pixel / 255 - mean[c]) / std[c].
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]
    public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }
    public static func fitted(to d: ImageDataset) -> Normalization { let s = d.channelStatistics(); return Normalization(mean: s.mean, std: s.std) }
}

public final class Batch: @unchecked Sendable {
    public internal(set) var count = 0
    public var images: [Float]
    public var labels: [Int32]
    /// Dataset indices of the images in this batch.
    public internal(set) var indices: [Int]
    init(capacity: Int, imageSize: Int) {
        images = [Float](repeating: 0, count: capacity * imageSize)
        labels = [Int32](repeating: 0, count: capacity)
        indices = [Int](repeating: 0, count: capacity)
    }
}

public final class BatchLoader: @unchecked Sendable {
    public let dataset: ImageDataset
    public let batchSize: Int
    public let shuffle: Bool
    public let augmentation: Augmentation
    public let normalization: Normalization
    public let seed: UInt64
    public let dropLast: Bool
    private let buffers: [Batch]
    private let queue = DispatchQueue(label: "dynaslim.loader")
    private let group = DispatchGroup()
    private var order: [Int] = []
    private var epoch = 0, nextBatch = 0, prefetched = -1

    public init(dataset: ImageDataset, batchSize: Int, shuffle: Bool, augmentation: Augmentation = .none,
                normalization: Normalization, seed: UInt64 = 0, dropLast: Bool = false) {
        precondition(batchSize > 0, "batch size must be positive")
        precondition(normalization.mean.count == dataset.shape.c && normalization.std.count == dataset.shape.c,
                     "normalization has \(normalization.mean.count) channels, dataset \(dataset.shape.c)")
        self.dataset = dataset; self.batchSize = batchSize; self.shuffle = shuffle; self.augmentation = augmentation
        self.normalization = normalization; self.seed = seed; self.dropLast = dropLast
        buffers = (0..<2).map { _ in Batch(capacity: batchSize, imageSize: dataset.shape.count) }
    }

    public var batchesPerEpoch: Int { dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize }

    /// Starts epoch `epoch`: fixes its order and begins preparing its first batch.
    public func start(epoch: Int) {
        group.wait()
        self.epoch = epoch; nextBatch = 0; prefetched = -1
        order = Array(0..<dataset.count)
        if shuffle {
            var rng = SplitMix64(seed: seed &+ 0x5EED_0000 &+ UInt64(epoch) &* 0x9E37_79B9)
            rng.shuffle(&order)
        }
        prefetch(0)
    }

    private func prefetch(_ b: Int) {
        guard b < batchesPerEpoch else { return }
        prefetched = b
        let buffer = buffers[b % 2]
        queue.async(group: group) { [self] in fill(buffer, batch: b) }
    }

    /// The next batch of the epoch, or nil at its end. The returned batch stays valid until the
    /// call after next (the loader fills the other buffer meanwhile).
    public func next() -> Batch? {
        guard nextBatch < batchesPerEpoch else { return nil }
        group.wait()
        let b = nextBatch
        if prefetched != b { fill(buffers[b % 2], batch: b) }
        nextBatch += 1
        prefetch(nextBatch)
        return buffers[b % 2]
    }

    func fill(_ out: Batch, batch b: Int) {
        let start = b * batchSize, n = min(batchSize, dataset.count - start)
        let s = dataset.shape, P = s.h * s.w
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x1_0000_0001 &+ UInt64(b) &* 0x9E37_79B9_7F4A_7C15)
        out.count = n
        let pad = augmentation.cropPadding
        dataset.images.withUnsafeBufferPointer { px in out.images.withUnsafeMutableBufferPointer { img in
            for j in 0..<n {
                let idx = order[start + j]
                out.indices[j] = idx
                out.labels[j] = dataset.labels[idx]
                var dy = 0, dx = 0, flip = false
                if augmentation.randomCrop { dy = rng.nextInt(below: 2 * pad + 1) - pad; dx = rng.nextInt(below: 2 * pad + 1) - pad }
                if augmentation.horizontalFlip { flip = rng.nextInt(below: 2) == 1 }
                for c in 0..<s.c {
                    let scale = 1 / (255 * normalization.std[c]), shift = -normalization.mean[c] / normalization.std[c]
                    let src = px.baseAddress! + (idx * s.c + c) * P
                    let dst = img.baseAddress! + (j * s.c + c) * P
                    if dy == 0 && dx == 0 && !flip {
                        for i in 0..<P { dst[i] = Float(src[i]) * scale + shift }
                        continue
                    }
                    // Output pixel (y, x) reads input (y + dy, x' + dx), x' = flipped x; outside = zero pixel.
                    for y in 0..<s.h {
                        let sy = y + dy
                        for x in 0..<s.w {
                            let sx = (flip ? s.w - 1 - x : x) + dx
                            let v: UInt8 = (sy >= 0 && sy < s.h && sx >= 0 && sx < s.w) ? src[sy * s.w + sx] : 0
                            dst[y * s.w + x] = Float(v) * scale + shift
                        }
                    }
                }
            }
        } }
    }
}
