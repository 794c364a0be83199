import Foundation
import Testing
@testable import DynaSlimReport

@Suite("Report")
struct ReportTests {
    func makeRun(_ root: String, _ name: String, config: String, metrics: String, bench: [Int: Double] = [:]) throws -> String {
        let dir = root + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try metrics.write(toFile: dir + "/metrics.jsonl", atomically: true, encoding: .utf8)
        for (b, s) in bench { try "{\"batch\":\(b),\"measured_speedup\":\(s)}".write(toFile: dir + "/bench-infer-b\(b).json", atomically: true, encoding: .utf8) }
        return dir
    }

    var rsvgConvert: String? { ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert", "/opt/homebrew/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) } }

    @Test("table rows come from the runs' files; SVGs render with rsvg-convert")
    func report() throws {
        let root = NSTemporaryDirectory() + "dynaslim-report-\(UUID().uuidString)"
        let dense = try makeRun(root, "dense", config: #"{"model":{"architecture":"resnet20"},"dataset":"fashion-mnist"}"#,
                                metrics: #"{"epoch":1,"test_accuracy":0.9}"# + "\n" + #"{"epoch":2,"test_accuracy":0.92,"macs_per_image":30820000,"dense_macs_per_image":30820000}"# + "\n")
        let dyn = try makeRun(root, "dyn", config: #"{"model":{"architecture":"resnet20"},"dataset":"fashion-mnist","dynamic":{"rateTarget":"variance"}}"#,
                              metrics: #"{"epoch":1,"test_accuracy":0.91,"dynamic":{"macs_per_image":15410000,"dense_macs_per_image":30820000,"predictor_overhead":0.0023,"per_class_rate":[0.4,0.5,0.6],"layers":[{"name":"layer1.0.bn1","mean_kept":7.5,"channels":16}],"rate_mean":0.5}}"#,
                              bench: [1: 1.6, 64: 1.7])
        // FBS runs are told by their config's "fbs" block; MACs and the saliency predictors' overhead
        // from the epoch line.
        let fbs = try makeRun(root, "fbs", config: #"{"model":{"architecture":"resnet20"},"dataset":"fashion-mnist","fbs":{"density":0.5}}"#,
                              metrics: #"{"epoch":1,"test_accuracy":0.905,"macs_per_image":16000000,"dense_macs_per_image":30820000,"predictor_overhead":0.0004}"# + "\n")
        let files = try Report.write(runs: [dense, dyn, fbs], to: root + "/out", classNames: ["a", "b", "c"])
        let md = try String(contentsOfFile: files[0], encoding: .utf8)
        #expect(md.contains("| dense | resnet20 | fashion-mnist | 92.00% | +0.00 pp | 30.82M | 1.00x |"))
        #expect(md.contains("| dynamic (variance) | resnet20 | fashion-mnist | 91.00% | +1.00 pp | 15.41M | 2.00x | 1.60x | 1.70x | 0.23% |"))
        #expect(md.contains("| FBS | resnet20 | fashion-mnist | 90.50% | +1.50 pp | 16.00M | 1.93x | - | - | 0.04% |"))
        #expect(files.filter { $0.hasSuffix(".svg") }.count == 4)
        for svg in files where svg.hasSuffix(".svg") {
            let text = try String(contentsOfFile: svg, encoding: .utf8)
            #expect(text.hasPrefix("<?xml") && text.hasSuffix("</svg>\n"))
            guard let tool = rsvgConvert else { continue }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = [svg, "-o", svg + ".png"]
            p.standardError = FileHandle.nullDevice
            try p.run(); p.waitUntilExit()
            #expect(p.terminationStatus == 0, "rsvg-convert rejected \(svg)")
            #expect(FileManager.default.fileExists(atPath: svg + ".png"))
        }
        #expect(throws: ReportError.self) { try Report.write(runs: [root + "/missing"], to: root + "/out2") }
    }

    @Test("a run's oracle.json adds the oracle table and plot; a malformed one is an error naming it")
    func oracle() throws {
        let root = NSTemporaryDirectory() + "dynaslim-report-\(UUID().uuidString)"
        let slim = try makeRun(root, "slim", config: #"{"model":{"architecture":"resnet20"},"dataset":"cifar10","slimmable":{}}"#,
                               metrics: #"{"epoch":1,"test_accuracy":0.9,"macs_per_image":40000000,"dense_macs_per_image":40000000}"# + "\n")
        try #"{"recalibration_images":2560,"accuracy_target":0.905,"static_accuracy_at_2x":0.85,"oracle_accuracy_at_2x":0.93,"static_speedup_at_target":null,"oracle_speedup_at_target":2.4,"points":[{"level":0.5,"macs":20000000,"flop_speedup":2,"static_accuracy":0.85,"oracle_accuracy":0.93},{"level":1,"macs":40000000,"flop_speedup":1,"static_accuracy":0.9,"oracle_accuracy":0.95}]}"#
            .write(toFile: slim + "/oracle.json", atomically: true, encoding: .utf8)
        let files = try Report.write(runs: [slim], to: root + "/out")
        let md = try String(contentsOfFile: files[0], encoding: .utf8)
        #expect(md.contains("| slim | recalibrated per level (2560 images) | 85.00% | 93.00% | never at 90.50% | 2.40x |"))
        #expect(files.contains(root + "/out/oracle_headroom.svg"))
        try #"{"points":[{"level":0.5}]}"#.write(toFile: slim + "/oracle.json", atomically: true, encoding: .utf8)
        #expect { try Report.write(runs: [slim], to: root + "/out") } throws: { "\($0)".contains(slim + "/oracle.json") }
    }
}
