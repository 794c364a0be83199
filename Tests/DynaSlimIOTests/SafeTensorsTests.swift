import Foundation
import Testing
import DynaSlimCore
import DynaSlimNN
@testable import DynaSlimIO

func temporaryDirectory() -> String {
    let d = NSTemporaryDirectory() + "dynaslim-io-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

@Suite("safetensors")
struct SafeTensorsTests {
    @Test("round trip keeps names, shapes, dtypes, values (bit-exact) and metadata")
    func roundTrip() throws {
        let path = temporaryDirectory() + "/t.safetensors"
        let tensors = [NamedTensor(name: "a.weight", shape: [2, 3], values: [1, -2, 3.5, .leastNonzeroMagnitude, -0.0, 1e30]),
                       NamedTensor(name: "b", shape: [], dtype: .i64, values: [7]),
                       NamedTensor(name: "name \"quoted\"", shape: [1], values: [0.25])]
        try SafeTensors.write(tensors, metadata: ["k": "v \"x\"\n"], to: path)
        let (back, meta) = try SafeTensors.read(path)
        #expect(back.count == 3 && meta["k"] == "v \"x\"\n")
        for t in tensors {
            let b = back.first { $0.name == t.name }!
            #expect(b.shape == t.shape && b.dtype == t.dtype)
            #expect(b.values.map(\.bitPattern) == t.values.map(\.bitPattern))
        }
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)  // header padded to 8-byte alignment, as the reference writer does
    }

    @Test("malformed files are rejected with the file and offset")
    func malformed() throws {
        let dir = temporaryDirectory()
        let good = dir + "/g.safetensors"
        try SafeTensors.write([NamedTensor(name: "x", shape: [4], values: [1, 2, 3, 4])], metadata: [:], to: good)
        let bytes = [UInt8](FileManager.default.contents(atPath: good)!)
        for (name, data) in [("short", Array(bytes.prefix(5))), ("truncated", Array(bytes.dropLast(4))),
                             ("hugeheader", [255, 255, 255, 0, 0, 0, 0, 0] + Array(bytes.dropFirst(8))), ("notjson", [4, 0, 0, 0, 0, 0, 0, 0, 65, 66, 67, 68])] {
            let p = dir + "/" + name
            FileManager.default.createFile(atPath: p, contents: Data(data))
            #expect(throws: SafeTensorsError.self) { try SafeTensors.read(p) }
            do { _ = try SafeTensors.read(p) } catch { #expect("\(error)".contains(p)) }
        }
    }

    @Test("a failed save leaves the previous file intact")
    func atomicWrite() throws {
        let dir = temporaryDirectory(), path = dir + "/m.safetensors"
        try SafeTensors.write([NamedTensor(name: "x", shape: [1], values: [1])], metadata: [:], to: path)
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write([NamedTensor(name: "x", shape: [2], values: [1])], metadata: [:], to: path)  // shape/value mismatch
        }
        #expect(try SafeTensors.read(path).tensors[0].values == [1])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test("checkpoint load reports missing, unexpected and mis-shaped tensors")
    func checkpointErrors() throws {
        let dir = temporaryDirectory()
        let net = try ModelZoo.build(ModelConfig(architecture: "resnet8", inputChannels: 1, inputHeight: 8, inputWidth: 8, classes: 3))
        let path = dir + "/c.safetensors"
        try Checkpoint.save(net, to: path)
        let loaded = try Checkpoint.load(path)
        #expect(loaded.network.config == net.config)
        var sd = Checkpoint.stateDict(net)
        let other = try ModelZoo.build(net.config)
        #expect(throws: CheckpointError.self) { try Checkpoint.apply(Array(sd.dropFirst()), to: other, file: "x") }
        #expect(throws: CheckpointError.self) { try Checkpoint.apply(sd + [NamedTensor(name: "extra", shape: [1], values: [0])], to: other, file: "x") }
        let conv = sd.firstIndex { $0.name == "conv1.weight" }!
        sd[conv].shape = [sd[conv].values.count]
        #expect(throws: CheckpointError.self) { try Checkpoint.apply(sd, to: other, file: "x") }
        let plain = dir + "/p.safetensors"
        try SafeTensors.write(Checkpoint.stateDict(net), metadata: [:], to: plain)
        #expect(throws: CheckpointError.self) { try Checkpoint.load(plain) }  // no metadata and no --model
    }
}

let pythonInterop: Bool = {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import safetensors.numpy, numpy"]
    p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}()

@Suite("PyTorch interop via Python safetensors", .serialized)
struct PythonInteropTests {
    func python(_ args: [String]) throws -> (Int32, String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/interop.py").path
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script] + args
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    func logits(_ net: Network, _ x: [Float]) throws -> [Float] {
        let y = try x.withUnsafeBufferPointer { try net.forward(images: $0, n: 2, mode: .eval) }
        return Array(y.buffer)
    }

    @Test("both directions byte-exact; numbers match a numpy re-implementation of PyTorch's forward",
          .enabled(if: pythonInterop, "python3 with numpy and safetensors not available (pip install safetensors numpy)"))
    func interop() throws {
        let dir = temporaryDirectory()
        let config = ModelConfig(architecture: "resnet8", inputChannels: 3, inputHeight: 8, inputWidth: 8, classes: 4)
        let net = try ModelZoo.build(config, seed: 3)
        var rng = SplitMix64(seed: 4)
        for (name, b) in net.namedBuffers where name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
            for i in b.value.indices { b.value[i] = name.hasSuffix("var") ? 0.5 + rng.nextFloat() : rng.nextNormal() * 0.2 }
        }
        for (name, p) in net.namedParameters where name.contains("bn") { for i in p.value.indices { p.value[i] += rng.nextNormal() * 0.1 } }
        let x = (0..<(2 * 3 * 64)).map { _ in rng.nextNormal() }
        try Checkpoint.save(net, to: dir + "/model.safetensors")
        try SafeTensors.write([NamedTensor(name: "input", shape: [2, 3, 8, 8], values: x),
                               NamedTensor(name: "logits", shape: [2, 4], values: try logits(net, x))], metadata: [:], to: dir + "/io.safetensors")

        let (s1, o1) = try python(["phase1", dir + "/model.safetensors", dir + "/io.safetensors", dir + "/roundtrip.safetensors",
                                   dir + "/py_state.safetensors", dir + "/py_logits.safetensors"])
        #expect(s1 == 0, "\(o1)")
        // Python re-saved our file: every tensor must come back bit-identical.
        let back = try SafeTensors.read(dir + "/roundtrip.safetensors").tensors
        for t in Checkpoint.stateDict(net) {
            let b = back.first { $0.name == t.name }
            #expect(b?.values.map(\.bitPattern) == t.values.map(\.bitPattern), "\(t.name)")
            #expect(b?.dtype == t.dtype)
        }
        // A state_dict written by Python (no DynaSlim metadata) loads with --model and gives its numbers.
        let loaded = try Checkpoint.load(dir + "/py_state.safetensors", fallback: ModelConfig(architecture: "resnet8", inputHeight: 8, inputWidth: 8))
        let pyLogits = try SafeTensors.read(dir + "/py_logits.safetensors").tensors[0].values
        let ours = try logits(loaded.network, x)
        let err = zip(ours, pyLogits).map { abs($0 - $1) }.max()! / max(1, pyLogits.map(abs).max()!)
        #expect(err < 1e-4)
        #expect(loaded.network.namedBuffers.first { $0.0 == "bn1.num_batches_tracked" }?.1.value == [123])
        try Checkpoint.save(loaded.network, to: dir + "/swift_rewrite.safetensors")
        let (s2, o2) = try python(["phase2", dir + "/py_state.safetensors", dir + "/swift_rewrite.safetensors"])
        #expect(s2 == 0, "\(o2)")
    }
}
