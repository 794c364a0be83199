import Foundation
import Testing
@testable import DynaSlimData
import DynaSlimCore

/// Mutations of small IDX and CIFAR files made here: every header byte set to extreme values, every
/// dimension to 0 / huge, truncation at every byte of the header and at record boundaries, trailing
/// bytes, random flips. Each case must load correctly or throw a DataError naming the file: never trap.
@Suite("Dataset fuzzing")
struct DataFuzzTests {
    /// The parser tests' scratch folder and file writer (one folder per instance).
    let files = ParserTests()
    func write(_ name: String, _ bytes: [UInt8]) -> String { files.write(name, bytes) }

    /// Loads the pair; an error must be a DataError naming one of the two files. Returns whether it loaded.
    @discardableResult
    func outcome(images: [UInt8], labels: [UInt8], _ label: String) -> Bool {
        let i = write("img", images), l = write("lab", labels)
        do {
            let d = try IDXReader.load(images: i, labels: l, name: "fuzz")
            #expect(d.images.count == d.count * d.shape.count, "\(label)")
            return true
        } catch let e as DataError {
            #expect("\(e)".contains(i) || "\(e)".contains(l), "\(label): \(e)")
            return false
        } catch {
            Issue.record("\(label): not a DataError: \(error)")
            return false
        }
    }

    @Test("IDX: header fields, dimensions, truncation, trailing bytes and flips")
    func idx() {
        let images = ParserTests.idxImages(n: 3, h: 4, w: 5), labels = ParserTests.idxLabels([1, 2, 3])
        #expect(outcome(images: images, labels: labels, "unchanged"))
        var cases = 0
        for k in 0..<16 {   // magic and the three sizes
            for v: UInt8 in [0, 1, 0x7f, 0x80, 0xff] {
                var m = images; m[k] = v
                outcome(images: m, labels: labels, "image header byte \(k) = \(v)"); cases += 1
            }
        }
        for k in 0..<8 { for v: UInt8 in [0, 0xff] { var m = labels; m[k] = v; outcome(images: images, labels: m, "label header byte \(k) = \(v)"); cases += 1 } }
        for (d, v) in [(0, 0), (1, 0), (2, 0), (0, Int(UInt32.max)), (1, Int(UInt32.max)), (2, 1 << 31), (0, 1 << 20)] {
            var m = images
            m.replaceSubrange((4 + 4 * d)..<(8 + 4 * d), with: ParserTests.be32(v))
            #expect(!outcome(images: m, labels: labels, "dim \(d) = \(v)")); cases += 1
        }
        for c in 0..<images.count { #expect(!outcome(images: Array(images.prefix(c)), labels: labels, "images cut at \(c)")); cases += 1 }
        for c in 0..<labels.count { #expect(!outcome(images: images, labels: Array(labels.prefix(c)), "labels cut at \(c)")); cases += 1 }
        #expect(!outcome(images: images + [0], labels: labels, "trailing byte")); cases += 1
        var rng = SplitMix64(seed: 7)
        for _ in 0..<100 {
            var m = images
            let i = rng.nextInt(below: m.count)
            m[i] ^= UInt8(1 << rng.nextInt(below: 8))
            outcome(images: m, labels: labels, "flip at \(i)"); cases += 1
        }
        print("dataset fuzzing: \(cases) IDX cases")
    }

    @Test("CIFAR: truncation at every record boundary, labels out of range, flips")
    func cifar() throws {
        let good = ParserTests.cifarRecord(label: 3, fill: 9) + ParserTests.cifarRecord(label: 7, fill: 1)
        var cases = 0
        func load(_ bytes: [UInt8], _ label: String) -> Bool {
            let path = write("batch.bin", bytes)
            var images: [UInt8] = [], labels: [Int32] = []
            do {
                try CIFARReader.parse(bytes, file: path, labelBytes: 1, labelIndex: 0, classes: 10, images: &images, labels: &labels)
                #expect(images.count == labels.count * CIFARReader.pixelsPerImage, "\(label)")
                return true
            } catch {
                #expect("\(error)".contains(path), "\(label): \(error)")
                return false
            }
        }
        #expect(load(good, "unchanged"))
        for c in [0, 1, 3072, 3074, 6145] { let loaded = load(Array(good.prefix(c)), "cut at \(c)"); #expect(!loaded, "cut at \(c)"); cases += 1 }
        #expect(load(Array(good.prefix(3073)), "one whole record"))
        for v: UInt8 in [10, 99, 255] { var m = good; m[3073] = v; #expect(!load(m, "label \(v)")); cases += 1 }
        var rng = SplitMix64(seed: 8)
        for _ in 0..<50 {
            var m = good
            let i = rng.nextInt(below: m.count)
            m[i] ^= UInt8(1 << rng.nextInt(below: 8))
            _ = load(m, "flip at \(i)"); cases += 1
        }
        print("dataset fuzzing: \(cases) CIFAR cases")
    }
}
