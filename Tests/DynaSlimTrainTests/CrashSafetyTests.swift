import Foundation
import Testing
import DynaSlimIO

/// The end of an epoch is one commit: the `dynaslim` binary is SIGKILLed just before each file
/// operation of the last epoch's commit (write, fsync and rename of the resume file, the model and
/// metrics.jsonl), then resumed; the weights must equal an uninterrupted run's bit for bit, with every
/// metrics line present once, and no temp file left behind.
@Suite("Crash safety of the epoch commit", .serialized)
struct CrashSafetyTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = repo.appendingPathComponent(".build/debug/dynaslim").path
    static let fashion = "/usr/share/datasets/fashion-mnist"
    static var skipReason: String? {
        if !FileManager.default.isExecutableFile(atPath: binary) { return "\(binary) is not built (run `swift build --build-tests`)" }
        if !FileManager.default.fileExists(atPath: fashion) { return "Fashion-MNIST is not installed at \(fashion) (apt: dataset-fashion-mnist)" }
        return nil
    }

    /// Runs the binary; returns its exit status (137-style: the negative signal for a signal death).
    @discardableResult
    func dynaslim(_ args: [String], killAt: Int? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["DYNASLIM_THREADS"] = "1"
        if let killAt { env["DYNASLIM_KILL_AT_FILE_OP"] = "\(killAt)" } else { env.removeValue(forKey: "DYNASLIM_KILL_AT_FILE_OP") }
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        return p.terminationReason == .uncaughtSignal ? -p.terminationStatus : p.terminationStatus
    }

    func trainArgs(_ out: String) -> [String] {
        ["train", "--model", "resnet8", "--dataset", "fashion-mnist", "--train-limit", "64", "--test-limit", "32", "--batch-size", "32",
         "--epochs", "2", "--out", out]
    }

    /// The metrics lines without their timing fields (which differ between runs).
    func metrics(_ dir: String) throws -> [String] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            var o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            o["seconds"] = nil; o["images_per_second"] = nil
            return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    func weights(_ dir: String) throws -> [NamedTensor] { try SafeTensors.read(dir + "/model.safetensors").tensors }

    @Test("a kill at each file operation of the last epoch's commit resumes to the uninterrupted run")
    func killAtEachOperation() throws {
        if let reason = Self.skipReason { print("skipped: \(reason)"); return }
        let root = NSTemporaryDirectory() + "dynaslim-crash-\(UUID().uuidString)"
        let reference = root + "/reference"
        #expect(try dynaslim(trainArgs(reference)) == 0)
        let expectedMetrics = try metrics(reference), expectedWeights = try weights(reference)
        #expect(expectedMetrics.count == 2)
        // Each epoch's commit is 9 operations (3 files x write, fsync, rename); the second epoch's are 10...18.
        for k in 10...18 {
            let dir = root + "/kill-\(k)"
            #expect(try dynaslim(trainArgs(dir), killAt: k) == -9, "operation \(k): the process was not killed")
            #expect(try dynaslim(["train", "--out", dir, "--resume"]) == 0, "operation \(k): resume failed")
            #expect(try metrics(dir) == expectedMetrics, "operation \(k): metrics lines differ")
            let w = try weights(dir)
            #expect(w.map(\.name) == expectedWeights.map(\.name))
            #expect(zip(w, expectedWeights).allSatisfy { $0.values.map(\.bitPattern) == $1.values.map(\.bitPattern) }, "operation \(k): weights differ")
            let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(!names.contains { $0.contains(".tmp-") }, "operation \(k): temp files left: \(names)")
        }
    }
}
