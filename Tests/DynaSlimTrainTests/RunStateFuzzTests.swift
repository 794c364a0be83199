import Foundation
import Testing
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
@testable import DynaSlimTrain

/// Mutations of a real run directory's resume state and config.json: each must be refused by
/// `TrainingRun.resume` with an error naming the file, never trap or resume into a wrong state.
@Suite("Run state fuzzing", .serialized)
struct RunStateFuzzTests {
    /// A finished first epoch of a 2-epoch run, copied fresh for each case.
    func template() throws -> (dir: String, train: ImageDataset, test: ImageDataset) {
        let train = try quadrantDataset(64, seed: 3), test = try quadrantDataset(32, seed: 4)
        let dir = runDirectory()
        let run = try TrainingRun.create(config: config("resnet8", epochs: 2), directory: dir, train: train, test: test)
        run.stopAfterEpochs = 1
        try run.run()
        return (dir, train, test)
    }

    func copy(_ dir: String) throws -> String {
        let d = runDirectory()
        try FileManager.default.copyItem(atPath: dir, toPath: d)
        return d
    }

    func refused(_ dir: String, _ file: String, _ label: String, train: ImageDataset, test: ImageDataset) {
        do {
            _ = try TrainingRun.resume(directory: dir, train: train, test: test)
            Issue.record("\(label): resumed")
        } catch {
            #expect("\(error)".contains(file), "\(label): the error does not name \(file): \(error)")
        }
    }

    @Test("resume.safetensors: momentum, epochs, weights, truncation")
    func resumeState() throws {
        let (dir, train, test) = try template()
        let (tensors, meta) = try SafeTensors.read(dir + "/resume.safetensors")
        let momentum = tensors.first { $0.name.hasPrefix("momentum.") }!
        var cases: [(String, [NamedTensor], [String: String])] = []
        cases.append(("a momentum tensor missing", tensors.filter { $0.name != momentum.name }, meta))
        cases.append(("a short momentum tensor", tensors.map { $0.name == momentum.name
            ? NamedTensor(name: $0.name, shape: [$0.values.count - 1], values: Array($0.values.dropLast())) : $0 }, meta))
        cases.append(("momentum for no parameter", tensors + [NamedTensor(name: "momentum.nothing", shape: [1], values: [0])], meta))
        cases.append(("NaN momentum", tensors.map { $0.name == momentum.name
            ? NamedTensor(name: $0.name, shape: $0.shape, values: $0.values.map { _ in .nan }) : $0 }, meta))
        cases.append(("a weight missing", tensors.filter { $0.name != "conv1.weight" }, meta))
        for e in ["-1", "0", "3", "99", "abc"] {
            var m = meta; m["completed_epochs"] = e
            cases.append(("completed_epochs \(e)", tensors, m))
        }
        var m = meta; m["completed_epochs"] = nil
        cases.append(("no completed_epochs", tensors, m))
        for (label, t, md) in cases {
            let d = try copy(dir)
            try SafeTensors.write(t, metadata: md, to: d + "/resume.safetensors")
            refused(d, "resume.safetensors", label, train: train, test: test)
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/resume.safetensors"))
        for cut in [0, 7, 100, bytes.count / 2, bytes.count - 1] {
            let d = try copy(dir)
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: d + "/resume.safetensors"))
            refused(d, "resume.safetensors", "resume cut at \(cut)", train: train, test: test)
        }
        print("run state fuzzing: \(cases.count + 5) resume cases")
    }

    @Test("config.json: malformed and out-of-range values")
    func configFile() throws {
        let (dir, train, test) = try template()
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        var variants: [(String, Any)] = [("not JSON", "{epochs:"), ("an array", [1, 2])]
        for (key, value) in [("epochs", 0), ("epochs", -3), ("batchSize", 0), ("batchSize", -1), ("labelSmoothing", 2), ("sparsity", -1),
                             ("dataset", "imagenet"), ("model", 5), ("epochs", "two")] as [(String, Any)] {
            var o = original; o[key] = value; variants.append(("\(key) = \(value)", o))
        }
        for (key, value) in [("classes", -1), ("inputChannels", 0), ("architecture", "resnet9")] as [(String, Any)] {
            var o = original, model = original["model"] as! [String: Any]
            model[key] = value; o["model"] = model
            variants.append(("model.\(key) = \(value)", o))
        }
        for (key, value) in [("momentum", 2), ("weightDecay", -1)] as [(String, Any)] {
            var o = original, sgd = original["sgd"] as! [String: Any]
            sgd[key] = value; o["sgd"] = sgd
            variants.append(("sgd.\(key) = \(value)", o))
        }
        var o = original, schedule = original["schedule"] as! [String: Any]
        schedule["baseLR"] = -0.1; o["schedule"] = schedule
        variants.append(("schedule.baseLR = -0.1", o))
        for (label, value) in variants {
            let d = try copy(dir)
            let data: Data
            if let text = value as? String { data = Data(text.utf8) } else { data = try JSONSerialization.data(withJSONObject: value) }
            try data.write(to: URL(fileURLWithPath: d + "/config.json"))
            refused(d, "config.json", label, train: train, test: test)
        }
        print("run state fuzzing: \(variants.count) config.json cases")
    }
}
