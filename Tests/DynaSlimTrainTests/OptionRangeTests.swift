import Foundation
import Testing

/// Every numeric option of the CLI with values outside its range: the `dynaslim` binary must exit with
/// a usage error (64) whose message names the option, before it reads any file.
@Suite("Option ranges", .serialized)
struct OptionRangeTests {
    static let binary = CrashSafetyTests.binary

    func run(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationReason == .uncaughtSignal ? -p.terminationStatus : p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let cases: [(command: [String], option: String, values: [String])] = [
        (["train", "--out", "/nonexistent/x"], "--epochs", ["0", "-1", "100001"]),
        (["train", "--out", "/nonexistent/x"], "--batch-size", ["0", "-5"]),
        (["train", "--out", "/nonexistent/x"], "--lr", ["0", "-0.1", "nan", "inf", "11"]),
        (["train", "--out", "/nonexistent/x"], "--lr-gamma", ["0", "2"]),
        (["train", "--out", "/nonexistent/x"], "--warmup", ["-1", "10"]),
        (["train", "--out", "/nonexistent/x"], "--momentum", ["2", "-0.1", "1"]),
        (["train", "--out", "/nonexistent/x"], "--weight-decay", ["-1", "nan"]),
        (["train", "--out", "/nonexistent/x"], "--label-smoothing", ["1", "-0.5"]),
        (["train", "--out", "/nonexistent/x"], "--sparsity", ["-1e-5", "inf"]),
        (["train", "--out", "/nonexistent/x"], "--dropout", ["1", "-0.1"]),
        (["train", "--out", "/nonexistent/x"], "--gamma-init", ["nan"]),
        (["train", "--out", "/nonexistent/x"], "--train-limit", ["-1", "0"]),
        (["train", "--out", "/nonexistent/x"], "--test-limit", ["0"]),
        (["train", "--out", "/nonexistent/x"], "--target", ["2", "1", "-0.1"]),
        (["train", "--out", "/nonexistent/x"], "--epoch-ratio", ["-1", "1.5"]),
        (["train", "--out", "/nonexistent/x"], "--alpha", ["-1"]),
        (["train", "--out", "/nonexistent/x"], "--tau-scale", ["0", "-1"]),
        (["train", "--out", "/nonexistent/x"], "--kappa", ["0"]),
        (["train", "--out", "/nonexistent/x"], "--r-max", ["0", "1.5"]),
        (["train", "--out", "/nonexistent/x"], "--gate-lambda", ["-1"]),
        (["train", "--out", "/nonexistent/x"], "--predictor-lr-mult", ["0"]),
        (["train", "--out", "/nonexistent/x"], "--predictor-width", ["0", "100000"]),
        (["train", "--out", "/nonexistent/x"], "--stage1-epochs", ["0"]),
        (["train", "--out", "/nonexistent/x"], "--density", ["0", "1.5"]),
        (["train", "--out", "/nonexistent/x"], "--fbs-lambda", ["-1"]),
        (["train", "--out", "/nonexistent/x"], "--min-width", ["0", "2"]),
        (["train", "--out", "/nonexistent/x"], "--random-widths", ["-1", "100"]),
        (["train", "--out", "/nonexistent/x"], "--kd-alpha", ["-0.1", "1.5"]),
        (["train", "--out", "/nonexistent/x"], "--kd-temperature", ["0", "-2"]),
        (["eval", "/nonexistent.safetensors"], "--limit", ["0", "-1"]),
        (["eval", "/nonexistent.safetensors"], "--batch-size", ["0"]),
        (["eval", "/nonexistent.safetensors"], "--recalibrate", ["-1"]),
        (["eval", "/nonexistent.safetensors"], "--accuracy-target", ["0", "2"]),
        (["prune", "/nonexistent.safetensors", "--out", "/nonexistent/o"], "--ratio", ["1", "-0.1", "nan"]),
        (["prune", "/nonexistent.safetensors", "--ratio", "0.5", "--out", "/nonexistent/o"], "--min-channels", ["0"]),
        (["bench", "infer", "/nonexistent.safetensors"], "--batch", ["0"]),
        (["bench", "infer", "/nonexistent.safetensors"], "--threads", ["0"]),
        (["bench", "infer", "/nonexistent.safetensors"], "--group-size", ["0"]),
        (["bench", "infer", "/nonexistent.safetensors"], "--repeats", ["0"]),
        (["bench", "kernels"], "--batch-size", ["0"]),
        (["bench", "kernels"], "--repeats", ["0"]),
        (["bench", "kernels"], "--threads", ["0"]),
        (["bench", "train"], "--classes", ["0"]),
        (["bench", "train"], "--batch-size", ["0"]),
        (["bench", "train"], "--steps", ["0"]),
        (["bench", "fork"], "--units", ["0"]),
        (["bench", "fork"], "--repeats", ["0"]),
        (["bench", "fork"], "--lanes", ["4"]),
    ]

    @Test("out-of-range values are usage errors naming the option")
    func ranges() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            print("skipped: \(Self.binary) is not built (run `swift build --build-tests`)"); return
        }
        var count = 0
        for c in Self.cases {
            for v in c.values {
                let (status, output) = try run(c.command + [c.option, v])
                #expect(status == 64, "\(c.command.first!) \(c.option) \(v): exit \(status): \(output)")
                #expect(output.contains(c.option), "\(c.command.first!) \(c.option) \(v): \(output)")
                count += 1
            }
        }
        print("option ranges: \(count) out-of-range values refused")
    }
}
