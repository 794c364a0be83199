import Foundation
import Testing
import CZlib
@testable import DynaSlimData
import DynaSlimCore

/// Writes small files in the exact IDX / CIFAR formats and checks every bad-input case.
@Suite("Dataset parsers")
struct ParserTests {
    let dir: String = {
        let d = NSTemporaryDirectory() + "dynaslim-data-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    func gzip(_ name: String, _ bytes: [UInt8]) -> String {
        let p = dir + "/" + name
        let f = gzopen(p, "wb")!
        _ = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
        gzclose(f)
        return p
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
    static func idxImages(n: Int, h: Int, w: Int) -> [UInt8] { [0, 0, 8, 3] + be32(n) + be32(h) + be32(w) + (0..<(n * h * w)).map { UInt8($0 % 251) } }
    static func idxLabels(_ labels: [UInt8]) -> [UInt8] { [0, 0, 8, 1] + be32(labels.count) + labels }

    @Test("IDX, plain and gzipped, loads images and labels")
    func idxGood() throws {
        let img = gzip("img.gz", Self.idxImages(n: 3, h: 4, w: 5))
        let lab = write("lab", Self.idxLabels([0, 9, 4]))
        let d = try IDXReader.load(images: img, labels: lab, name: "t")
        #expect(d.count == 3 && d.shape == FeatureShape(c: 1, h: 4, w: 5))
        #expect(d.labels == [0, 9, 4])
        #expect(d.images[7] == 7 && d.images[59] == 59)
    }

    @Test("IDX bad magic names the file and the bytes found")
    func idxBadMagic() throws {
        var bytes = Self.idxImages(n: 1, h: 2, w: 2)
        bytes[3] = 1
        let img = write("bad", bytes), lab = write("lab", Self.idxLabels([1]))
        #expect(throws: DataError.badMagic(file: img, found: 0x801, expected: 0x803)) { try IDXReader.load(images: img, labels: lab, name: "t") }
    }

    @Test("IDX truncated data is reported with the byte offset")
    func idxTruncated() throws {
        let bytes = Self.idxImages(n: 2, h: 3, w: 3)
        let img = write("trunc", Array(bytes.dropLast(5))), lab = write("lab", Self.idxLabels([1, 2]))
        do { _ = try IDXReader.load(images: img, labels: lab, name: "t"); Issue.record("expected an error") } catch let e as DataError {
            #expect(e == .truncated(file: img, offset: bytes.count - 5, needed: bytes.count, available: bytes.count - 5))
            #expect(e.description.contains("truncated at byte \(bytes.count - 5)"))
        }
        let tiny = write("tiny", [0, 0, 8])
        #expect(throws: DataError.self) { try IDXReader.load(images: tiny, labels: lab, name: "t") }
    }

    @Test("IDX label out of range, and image/label count mismatch")
    func idxLabels() throws {
        let img = write("img", Self.idxImages(n: 2, h: 2, w: 2))
        let lab = write("lab", Self.idxLabels([3, 12]))
        #expect(throws: DataError.labelOutOfRange(file: lab, offset: 9, label: 12, classes: 10)) { try IDXReader.load(images: img, labels: lab, name: "t") }
        let lab3 = write("lab3", Self.idxLabels([1, 2, 3]))
        #expect(throws: DataError.self) { try IDXReader.load(images: img, labels: lab3, name: "t") }
        #expect(throws: DataError.cannotOpen(file: dir + "/nope", reason: "no such file")) { try IDXReader.load(images: dir + "/nope", labels: lab, name: "t") }
    }

    static func cifarRecord(label: UInt8, fill: UInt8, coarse: UInt8? = nil) -> [UInt8] {
        (coarse.map { [$0] } ?? []) + [label] + [UInt8](repeating: fill, count: 3072)
    }

    @Test("CIFAR-10 binary: good files, wrong record size, label out of range")
    func cifar10() throws {
        let folder = dir + "/c10"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 1...5 { FileManager.default.createFile(atPath: "\(folder)/data_batch_\(i).bin", contents: Data(Self.cifarRecord(label: UInt8(i), fill: UInt8(i)) + Self.cifarRecord(label: 0, fill: 7))) }
        FileManager.default.createFile(atPath: "\(folder)/test_batch.bin", contents: Data(Self.cifarRecord(label: 9, fill: 200)))
        let train = try CIFARReader.loadCIFAR10(folder: folder, train: true)
        #expect(train.count == 10 && train.labels.prefix(3) == [1, 0, 2] && train.images[3072] == 7)
        let test = try CIFARReader.loadCIFAR10(folder: folder, train: false)
        #expect(test.count == 1 && test.labels == [9] && test.shape == FeatureShape(c: 3, h: 32, w: 32))

        let bad = write("bad.bin", Self.cifarRecord(label: 1, fill: 0) + [1, 2, 3])
        var images: [UInt8] = [], labels: [Int32] = []
        #expect(throws: DataError.wrongRecordSize(file: bad, size: 3076, recordSize: 3073)) {
            try CIFARReader.parse(try FileReading.readAll(bad), file: bad, labelBytes: 1, labelIndex: 0, classes: 10, images: &images, labels: &labels)
        }
        let badLabel = write("label.bin", Self.cifarRecord(label: 1, fill: 0) + Self.cifarRecord(label: 10, fill: 0))
        #expect(throws: DataError.labelOutOfRange(file: badLabel, offset: 3073, label: 10, classes: 10)) {
            try CIFARReader.parse(try FileReading.readAll(badLabel), file: badLabel, labelBytes: 1, labelIndex: 0, classes: 10, images: &images, labels: &labels)
        }
        #expect(throws: DataError.self) { try CIFARReader.loadCIFAR10(folder: dir + "/missing", train: true) }
    }

    @Test("CIFAR-100 binary: fine labels by default, coarse on request")
    func cifar100() throws {
        let folder = dir + "/c100"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: "\(folder)/train.bin", contents: Data(Self.cifarRecord(label: 87, fill: 1, coarse: 19) + Self.cifarRecord(label: 3, fill: 2, coarse: 4)))
        let fine = try CIFARReader.loadCIFAR100(folder: folder, train: true)
        #expect(fine.labels == [87, 3] && fine.classes == 100)
        let coarse = try CIFARReader.loadCIFAR100(folder: folder, train: true, coarse: true)
        #expect(coarse.labels == [19, 4] && coarse.classes == 20)
        FileManager.default.createFile(atPath: "\(folder)/test.bin", contents: Data(Self.cifarRecord(label: 100, fill: 0, coarse: 1)))
        #expect(throws: DataError.labelOutOfRange(file: "\(folder)/test.bin", offset: 1, label: 100, classes: 100)) {
            try CIFARReader.loadCIFAR100(folder: folder, train: false)
        }
    }
}

@Suite("Batch loader")
struct LoaderTests {
    func dataset(_ n: Int) throws -> ImageDataset {
        var rng = SplitMix64(seed: 1)
        return try ImageDataset(name: "syn", images: (0..<(n * 2 * 6 * 6)).map { _ in UInt8(rng.nextInt(below: 256)) },
                                labels: (0..<n).map { Int32($0 % 3) }, shape: FeatureShape(c: 2, h: 6, w: 6), classes: 3)
    }

    @Test("normalization, epoch coverage, and reproducible shuffling and augmentation")
    func loader() throws {
        let d = try dataset(10)
        let norm = Normalization.fitted(to: d)
        let plain = BatchLoader(dataset: d, batchSize: 4, shuffle: false, normalization: norm)
        plain.start(epoch: 0)
        var all: [Float] = []
        var count = 0
        while let b = plain.next() { all += b.images.prefix(b.count * 72); count += b.count }
        #expect(count == 10)
        for c in 0..<2 {  // normalized channels have mean ~0 and std ~1
            var vals: [Float] = []
            for n in 0..<10 { vals += all[(n * 2 + c) * 36..<((n * 2 + c) * 36 + 36)] }
            let m = vals.reduce(0, +) / Float(vals.count)
            let v = vals.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(vals.count)
            #expect(abs(m) < 1e-4 && abs(v - 1) < 1e-3)
        }
        func epochIndices(_ l: BatchLoader, _ e: Int) -> ([Int], [Float]) {
            l.start(epoch: e)
            var idx: [Int] = [], px: [Float] = []
            while let b = l.next() { idx += b.indices.prefix(b.count); px += b.images.prefix(b.count * 72) }
            return (idx, px)
        }
        let aug = Augmentation(randomCrop: true, cropPadding: 2, horizontalFlip: true)
        let a = BatchLoader(dataset: d, batchSize: 3, shuffle: true, augmentation: aug, normalization: norm, seed: 7)
        let b = BatchLoader(dataset: d, batchSize: 3, shuffle: true, augmentation: aug, normalization: norm, seed: 7)
        let e1 = epochIndices(a, 1), e2 = epochIndices(a, 2)
        #expect(Set(e1.0) == Set(0..<10) && e1.0 != Array(0..<10))
        #expect(e1.0 != e2.0)
        _ = epochIndices(b, 5)  // a different history must not change epoch 1's batches
        let again = epochIndices(b, 1)
        #expect(again.0 == e1.0 && again.1 == e1.1)
    }

    @Test("random crop shifts with zero (black) padding; flip mirrors")
    func augmentation() throws {
        let pixels: [UInt8] = (0..<9).map { UInt8($0 * 10 + 10) }  // 1x3x3
        let d = try ImageDataset(name: "one", images: pixels, labels: [0], shape: FeatureShape(c: 1, h: 3, w: 3), classes: 1)
        let norm = Normalization(mean: [0], std: [1])
        let flip = BatchLoader(dataset: d, batchSize: 1, shuffle: false, augmentation: Augmentation(horizontalFlip: true), normalization: norm)
        var seenFlip = false, seenPlain = false
        for e in 0..<20 {
            flip.start(epoch: e)
            let img = Array(flip.next()!.images.prefix(9)).map { Int(($0 * 255).rounded()) }
            if img == [30, 20, 10, 60, 50, 40, 90, 80, 70] { seenFlip = true }
            if img == [10, 20, 30, 40, 50, 60, 70, 80, 90] { seenPlain = true }
        }
        #expect(seenFlip && seenPlain)
        let crop = BatchLoader(dataset: d, batchSize: 1, shuffle: false, augmentation: Augmentation(randomCrop: true, cropPadding: 1), normalization: norm)
        for e in 0..<20 {
            crop.start(epoch: e)
            let img = Array(crop.next()!.images.prefix(9)).map { Int(($0 * 255).rounded()) }
            // Every output is a shifted copy: the nonzero values keep their row/column order.
            #expect(img.filter { $0 != 0 }.count >= 4)
            #expect(img.allSatisfy { $0 == 0 || pixels.contains(UInt8($0)) })
        }
    }
}

@Suite("Real datasets")
struct RealDataTests {
    @Test("Fashion-MNIST from Debian's package", .enabled(if: FileManager.default.fileExists(atPath: DatasetCatalog.fashionMNISTDefault + "/t10k-images-idx3-ubyte.gz"),
                                                          "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"))
    func fashionMNIST() throws {
        let test = try DatasetCatalog.load(.fashionMNIST, path: nil, train: false)
        #expect(test.count == 10_000 && test.shape == FeatureShape(c: 1, h: 28, w: 28))
        #expect(Set(test.labels) == Set(0..<10))
        #expect((0..<10).allSatisfy { c in test.labels.filter { $0 == c }.count == 1000 })
    }

    @Test("CIFAR-10 from ../shared/data", .enabled(if: FileManager.default.fileExists(atPath: "../shared/data/cifar-10-batches-bin/test_batch.bin"),
                                                   "../shared/data/cifar-10-batches-bin not present"))
    func cifar10() throws {
        let test = try DatasetCatalog.load(.cifar10, path: "../shared/data/cifar-10-batches-bin", train: false)
        #expect(test.count == 10_000 && test.classNames.first == "airplane")
        #expect((0..<10).allSatisfy { c in test.labels.filter { $0 == c }.count == 1000 })
    }
}
