// CIFAR-10 / CIFAR-100 binary versions (Krizhevsky 2009).
// CIFAR-10 record: 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32, row-major);
// files data_batch_1..5.bin (train) and test_batch.bin.
// CIFAR-100 record: coarse label byte, fine label byte, 3072 pixel bytes; train.bin, test.bin.
import DynaSlimCore
import Foundation

public enum CIFARReader {
    public static let pixelsPerImage = 3072

    /// Parses one binary file of `labelBytes`-byte-prefixed records; `labelIndex` picks which label byte.
    public static func parse(_ bytes: [UInt8], file: String, labelBytes: Int, labelIndex: Int, classes: Int,
                             images: inout [UInt8], labels: inout [Int32]) throws {
        let record = labelBytes + pixelsPerImage
        guard !bytes.isEmpty else { throw DataError.truncated(file: file, offset: 0, needed: record, available: 0) }
        guard bytes.count % record == 0 else { throw DataError.wrongRecordSize(file: file, size: bytes.count, recordSize: record) }
        let n = bytes.count / record
        images.reserveCapacity(images.count + n * pixelsPerImage)
        for r in 0..<n {
            let o = r * record
            let label = Int(bytes[o + labelIndex])
            guard label < classes else { throw DataError.labelOutOfRange(file: file, offset: o + labelIndex, label: label, classes: classes) }
            labels.append(Int32(label))
            images.append(contentsOf: bytes[(o + labelBytes)..<(o + record)])
        }
    }

    static func classNames(_ folder: String, classes: Int) -> [String]? {
        for f in ["batches.meta.txt", "fine_label_names.txt"] {
            if let s = try? String(contentsOfFile: (folder as NSString).appendingPathComponent(f), encoding: .utf8) {
                let names = s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if names.count == classes { return names }
            }
        }
        return nil
    }

    /// CIFAR-10 from `folder` (cifar-10-batches-bin): the train split (5 batches) or the test split.
    public static func loadCIFAR10(folder: String, train: Bool) throws -> ImageDataset {
        let files = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        var images: [UInt8] = [], labels: [Int32] = []
        for f in files {
            let path = (folder as NSString).appendingPathComponent(f)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError.missingFile(path: path, hint: "Pass --data pointing at the cifar-10-batches-bin folder.")
            }
            try parse(FileReading.readAll(path), file: path, labelBytes: 1, labelIndex: 0, classes: 10, images: &images, labels: &labels)
        }
        return try ImageDataset(name: "cifar10-\(train ? "train" : "test")", images: images, labels: labels,
                                shape: FeatureShape(c: 3, h: 32, w: 32), classes: 10, classNames: classNames(folder, classes: 10))
    }

    /// CIFAR-100 from `folder` (cifar-100-binary): fine labels (100 classes) or coarse (20).
    public static func loadCIFAR100(folder: String, train: Bool, coarse: Bool = false) throws -> ImageDataset {
        let path = (folder as NSString).appendingPathComponent(train ? "train.bin" : "test.bin")
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.missingFile(path: path, hint: "Pass --data pointing at the cifar-100-binary folder.")
        }
        var images: [UInt8] = [], labels: [Int32] = []
        let classes = coarse ? 20 : 100
        try parse(FileReading.readAll(path), file: path, labelBytes: 2, labelIndex: coarse ? 0 : 1, classes: classes, images: &images, labels: &labels)
        return try ImageDataset(name: "cifar100-\(train ? "train" : "test")", images: images, labels: labels,
                                shape: FeatureShape(c: 3, h: 32, w: 32), classes: classes)
    }
}
