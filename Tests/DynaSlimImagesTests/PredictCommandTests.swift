import CPNG
import Foundation
import Testing
import DynaSlimData

/// `dynaslim predict` on PNG files written here from real CIFAR-10 test records, through the binary: the same
/// predictions as `dynaslim eval --predictions` on those records, and a corrupt file among them gets an error
/// naming it while the others are still classified (exit status 1).
@Suite("predict command", .serialized)
struct PredictCommandTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = repo.appendingPathComponent(".build/debug/dynaslim").path
    static let cifar = repo.deletingLastPathComponent().appendingPathComponent("shared/data/cifar-10-batches-bin").path
    static let checkpoint = repo.appendingPathComponent("checkpoints/c10-resnet20-restart3/model.safetensors").path

    func run(_ args: [String]) throws -> (Int32, Data, String) {
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, o, String(decoding: e, as: UTF8.self))
    }

    @Test("PNGs of CIFAR-10 test records: the same predictions as eval; a corrupt file is named, the rest classified")
    func matchesEval() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { print("skipped: \(Self.binary) is not built"); return }
        guard FileManager.default.fileExists(atPath: Self.cifar + "/test_batch.bin") else { print("skipped: no CIFAR-10 at \(Self.cifar)"); return }
        let n = 24
        let test = try DatasetCatalog.load(.cifar10, path: Self.cifar, train: false).prefix(n)
        let dir = NSTemporaryDirectory() + "dynaslim-predict-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var files: [String] = []
        for i in 0..<n {
            // The record's planes (R, G, B of 32x32) interleaved as PNG RGB rows.
            let planes = test.images[(i * 3072)..<((i + 1) * 3072)].map { $0 }
            var rgb = [UInt8](repeating: 0, count: 3072)
            for p in 0..<1024 { for c in 0..<3 { rgb[p * 3 + c] = planes[c * 1024 + p] } }
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION); image.width = 32; image.height = 32; image.format = UInt32(PNG_FORMAT_RGB)
            let path = dir + "/record\(i).png"
            let ok = rgb.withUnsafeBytes { png_image_write_to_file(&image, path, 0, $0.baseAddress, 0, nil) }
            #expect(ok != 0)
            files.append(path)
        }
        let corrupt = dir + "/corrupt.png"
        FileManager.default.createFile(atPath: corrupt, contents: Data("not an image".utf8))
        let (status, out, err) = try run(["predict", Self.checkpoint] + Array(files.prefix(n / 2)) + [corrupt] + Array(files.suffix(n / 2)) + ["--json"])
        #expect(status == 1, "exit status with a corrupt file: \(status) \(err)")
        let results = (try JSONSerialization.jsonObject(with: out) as! [String: Any])["results"] as! [[String: Any]]
        #expect(results.count == n + 1)
        let predicted = results.filter { $0["error"] == nil }.map { (($0["top"] as! [[String: Any]])[0]["index"] as! Int) }
        #expect((results[n / 2]["error"] as? String)?.contains(corrupt) == true)
        let (s2, evalOut, _) = try run(["eval", Self.checkpoint, "--data", Self.cifar, "--limit", "\(n)", "--json", "--predictions"])
        #expect(s2 == 0)
        let expected = (try JSONSerialization.jsonObject(with: evalOut) as! [String: Any])["predictions"] as! [Int]
        #expect(predicted == expected)
    }
}
