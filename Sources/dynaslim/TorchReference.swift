// PyTorch measured beside DynaSlim in one command (`bench train --torch`): runs the repository's
// python/dynaslim_torch package (no install needed: its folder goes on PYTHONPATH) and reads its
// JSON line. A missing torch is a visible skip, not an error: the Swift rows stand on their own.
import Foundation

enum TorchReference {
    case measured(imagesPerSecond: Double, medianStepMs: Double, version: String)
    case skipped(String)

    var json: [String: Any] {
        switch self {
        case let .measured(ips, ms, v): return ["images_per_second": ips, "median_step_ms": ms, "version": v]
        case let .skipped(why): return ["skipped": why]
        }
    }

    /// The repository's python/ folder, found from this source file's place in the checkout.
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("python").path
    }

    static func trainStep(model: String, input: String, classes: Int, batchSize: Int, threads: Int, steps: Int) -> TorchReference {
        guard FileManager.default.fileExists(atPath: packageRoot + "/dynaslim_torch/bench_train.py") else {
            return .skipped("\(packageRoot)/dynaslim_torch is missing: run dynaslim from its repository checkout")
        }
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "dynaslim_torch.bench_train", "--model", model, "--input", input, "--classes", "\(classes)",
                       "--batch-size", "\(batchSize)", "--threads", "\(threads)", "--steps", "\(steps)"]
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = packageRoot + (env["PYTHONPATH"].map { ":" + $0 } ?? "")
        p.environment = env
        p.standardOutput = out; p.standardError = err
        do { try p.run() } catch { return .skipped("cannot start python3: \(error)") }
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let reason = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0 else {
            return .skipped(p.terminationStatus == 3 ? reason : "python3 exited \(p.terminationStatus): \(reason.suffix(300))")
        }
        guard let line = String(decoding: stdout, as: UTF8.self).split(separator: "\n").last,
              let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let ips = o["images_per_second"] as? Double, let ms = o["median_step_ms"] as? Double else {
            return .skipped("unreadable output from dynaslim_torch.bench_train")
        }
        return .measured(imagesPerSecond: ips, medianStepMs: ms, version: o["torch"] as? String ?? "?")
    }
}
