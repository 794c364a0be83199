import Foundation
import Testing
import DynaSlimCore
import DynaSlimNN
@testable import DynaSlimIO

/// Mutations of a real checkpoint (the committed 100-epoch CIFAR-10 ResNet-20): every header field of
/// every tensor, the metadata, truncation at every section boundary, and random byte flips. Each case
/// must end in an error that names the file, or in a model whose logits are finite: never a trap.
@Suite("Checkpoint fuzzing", .serialized)
struct CheckpointFuzzTests {
    static let real = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("checkpoints/c10-resnet20-restart3/model.safetensors").path

    struct Parts {
        var header: [String: Any]
        var data: [UInt8]
    }

    func split(_ bytes: [UInt8]) -> Parts {
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try! JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        return Parts(header: header, data: Array(bytes[(8 + n)...]))
    }

    func join(_ p: Parts) -> [UInt8] {
        let h = [UInt8](try! JSONSerialization.data(withJSONObject: p.header, options: [.sortedKeys]))
        var out = [UInt8]()
        for i in 0..<8 { out.append(UInt8((h.count >> (8 * i)) & 0xff)) }
        return out + h + p.data
    }

    /// Loads `bytes` as a checkpoint: an error must name the file; a model must give finite logits.
    /// Returns whether it loaded.
    @discardableResult
    func outcome(_ bytes: [UInt8], _ label: String, dir: String) -> Bool {
        let path = dir + "/case.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        do {
            let net = try Checkpoint.load(path).network
            let s = net.config.inputShape
            let x = [Float](repeating: 0.5, count: 2 * s.count)
            let y = try x.withUnsafeBufferPointer { try net.forward(images: $0, n: 2, mode: .eval) }
            let finite = (0..<(2 * net.config.classes)).allSatisfy { y.pointer[$0].isFinite }
            #expect(finite, "\(label): loaded, but the logits are not finite")
            return true
        } catch {
            #expect("\(error)".contains(path), "\(label): the error does not name the file: \(error)")
            return false
        }
    }

    @Test("every header field of every tensor, and the metadata")
    func headerFields() throws {
        let dir = temporaryDirectory()
        let original = split([UInt8](FileManager.default.contents(atPath: Self.real)!))
        #expect(outcome(join(original), "unchanged", dir: dir))
        // Every variant for a few tensors of each kind (stem conv, BN statistics, the i64 counter, the
        // classifier, a deep conv); one rotating variant for every other tensor (the whole suite stays
        // in seconds: each case parses a 1 MB file).
        let all = original.header.keys.filter { $0 != "__metadata__" }.sorted()
        let full: Set<String> = ["conv1.weight", "bn1.running_var", "bn1.num_batches_tracked", "linear.weight", "layer3.2.conv2.weight"]
        let dtypes: [Any] = ["F64", "I64", "F16", "BF16", "U8", "I8", "I32", "X9", 5, NSNull()]
        let shapes: [Any] = [[], [-1], [1 << 61, 8], [4611686018427387904, 4], [1.5], ["a"], [true], [1], [0], NSNull()]
        var cases = 0
        for (index, name) in all.enumerated() {
            let entry = original.header[name] as! [String: Any]
            let offs = entry["data_offsets"] as! [Int], shape = entry["shape"] as! [Int]
            var variants: [[String: Any]] = []
            for d in dtypes { var e = entry; e["dtype"] = d; variants.append(e) }
            for s in shapes + [shape + [1], Array(shape.dropLast()), shape.map { $0 * 2 }] { var e = entry; e["shape"] = s; variants.append(e) }
            for o: Any in [[-1, offs[1]], [offs[0], offs[1] - 1], [offs[0] + 1, offs[1]], [offs[1], offs[0]], [0, offs[1] - offs[0]],
                           [offs[0], 1 << 62], [offs[0]], [Double(offs[0]) + 0.5, offs[1]], "x"] {
                var e = entry; e["data_offsets"] = o; variants.append(e)
            }
            for key in ["dtype", "shape", "data_offsets"] { var e = entry; e[key] = nil; variants.append(e) }
            for (k, v) in variants.enumerated() where full.contains(name) || k == index % variants.count {
                var p = original
                p.header[name] = v
                outcome(join(p), "\(name) variant \(k)", dir: dir)
                cases += 1
            }
        }
        // Metadata: the model config's every field out of range, malformed JSON, non-string values.
        let meta = original.header["__metadata__"] as! [String: Any]
        let model = try JSONSerialization.jsonObject(with: Data((meta["dynaslim.model"] as! String).utf8)) as! [String: Any]
        let bad: [(String, Any)] = [("classes", -3), ("classes", 0), ("classes", 1 << 40), ("inputChannels", -1), ("inputChannels", 0),
                                    ("inputHeight", 0), ("inputWidth", -8), ("inputHeight", 1 << 30), ("dropout", 1.5), ("architecture", "resnet7"),
                                    ("architecture", "resnet1000000"), ("architecture", ""), ("widths", ["layer1.0.bn1": -2]), ("widths", ["layer1.0.bn1": 0]),
                                    ("classes", "ten"), ("shortcut", "Z")]
        for (key, value) in bad {
            var m = model; m[key] = value
            var p = original
            var md = meta
            md["dynaslim.model"] = String(decoding: try JSONSerialization.data(withJSONObject: m), as: UTF8.self)
            p.header["__metadata__"] = md
            #expect(!outcome(join(p), "metadata \(key) = \(value)", dir: dir))
            cases += 1
        }
        for value: Any in ["{not json", 7, ["a"]] {
            var p = original, md = meta
            md["dynaslim.model"] = value
            p.header["__metadata__"] = md
            #expect(!outcome(join(p), "metadata dynaslim.model = \(value)", dir: dir))
            cases += 1
        }
        print("checkpoint fuzzing: \(cases) header and metadata cases")
    }

    @Test("truncation at every section boundary, and 150 random byte flips")
    func truncationAndFlips() throws {
        let dir = temporaryDirectory()
        let bytes = [UInt8](FileManager.default.contents(atPath: Self.real)!)
        let p = split(bytes)
        let headerEnd = bytes.count - p.data.count
        var cuts = Array(0...9) + [headerEnd - 1, headerEnd, headerEnd + 1, bytes.count - 1]
        for (name, v) in p.header where name != "__metadata__" {
            let o = (v as! [String: Any])["data_offsets"] as! [Int]
            cuts += [headerEnd + o[0], headerEnd + o[0] + 1, headerEnd + o[1] - 1]
        }
        for c in Set(cuts).sorted() where c < bytes.count {
            #expect(!outcome(Array(bytes.prefix(c)), "truncated at \(c)", dir: dir))
        }
        // A flip in the header or the data: an error naming the file, or a model with finite logits.
        var rng = SplitMix64(seed: 2026)
        for k in 0..<150 {
            var b = bytes
            let i = k < 50 ? 8 + rng.nextInt(below: headerEnd - 8) : rng.nextInt(below: bytes.count)
            b[i] ^= UInt8(1 << rng.nextInt(below: 8))
            outcome(b, "flip at byte \(i)", dir: dir)
        }
        print("checkpoint fuzzing: \(Set(cuts).count) truncations, 150 byte flips")
    }

    @Test("overlapping offsets, a hole, trailing bytes and a NaN or a negative variance are refused")
    func structural() throws {
        let dir = temporaryDirectory()
        let original = split([UInt8](FileManager.default.contents(atPath: Self.real)!))
        let names = original.header.keys.filter { $0 != "__metadata__" }.sorted { a, b in
            ((original.header[a] as! [String: Any])["data_offsets"] as! [Int])[0] < ((original.header[b] as! [String: Any])["data_offsets"] as! [Int])[0]
        }
        // The second tensor pointed at the first one's bytes (same length): an overlap and a hole.
        var p = original
        let first = original.header[names[0]] as! [String: Any], second = original.header[names[1]] as! [String: Any]
        let o1 = first["data_offsets"] as! [Int], o2 = second["data_offsets"] as! [Int]
        if o1[1] - o1[0] == o2[1] - o2[0] {
            var e = second; e["data_offsets"] = o1; p.header[names[1]] = e
            #expect(!outcome(join(p), "overlap", dir: dir))
        }
        p = original; p.data += [0, 0, 0, 0]
        #expect(!outcome(join(p), "trailing bytes", dir: dir))
        for (suffix, value) in [("running_var", Float(-1)), ("weight", Float.nan), ("running_mean", Float.infinity)] {
            let name = names.first { $0.hasSuffix("bn1." + suffix) }!
            let o = (original.header[name] as! [String: Any])["data_offsets"] as! [Int]
            p = original
            withUnsafeBytes(of: value.bitPattern.littleEndian) { for (k, byte) in $0.enumerated() { p.data[o[0] + k] = byte } }
            #expect(!outcome(join(p), "\(name) = \(value)", dir: dir))
        }
    }
}
