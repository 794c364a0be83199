// `dynaslim report`: one comparison table (report.md) and SVG plots, built only from the files in
// run directories: config.json, metrics.jsonl (last epoch) and bench-infer-b*.json (written by
// `dynaslim bench infer --record`), and oracle.json (`dynaslim eval --oracle --record`).
import Foundation

public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

public struct RunSummary: Sendable {
    public var directory: String
    public var method: String
    public var model: String
    public var dataset: String
    public var accuracy: Double
    public var macsPerImage: Double
    public var denseMacsPerImage: Double
    public var flopSpeedup: Double
    public var predictorOverhead: Double?
    public var measuredSpeedup: [Int: Double]     // batch -> measured speed-up
    public var perClassRate: [Double]?
    public var layerKept: [(name: String, mean: Double, channels: Int)]?
    public var rate: Double?
}

public enum Report {
    static func json(_ path: String) throws -> [String: Any] {
        guard let d = FileManager.default.contents(atPath: path) else { throw ReportError("\(path): not found") }
        guard let o = try JSONSerialization.jsonObject(with: d) as? [String: Any] else { throw ReportError("\(path): not a JSON object") }
        return o
    }

    public static func summarize(_ dir: String) throws -> RunSummary {
        let cfg = try json(dir + "/config.json")
        guard let text = try? String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8),
              let lastLine = text.split(separator: "\n").last,
              let last = try JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any] else {
            throw ReportError("\(dir)/metrics.jsonl: no finished epoch")
        }
        let model = cfg["model"] as? [String: Any] ?? [:]
        var method = "dense"
        if let dyn = cfg["dynamic"] as? [String: Any] { method = "dynamic (\(dyn["rateTarget"] as? String ?? "variance"))" }
        else if cfg["fbs"] != nil { method = "FBS" }
        else if cfg["slimmable"] != nil { method = "slimmable" }
        else if model["widths"] != nil { method = "static NS" }
        else if let sp = cfg["sparsity"] as? Double, sp > 0 { method = "dense + L1" }
        let dynEval = last["dynamic"] as? [String: Any]
        // MACs: the dynamic evaluation, else the epoch line, else an `eval --json` result saved as eval.json.
        let saved = try? json(dir + "/eval.json")
        let macs = (dynEval?["macs_per_image"] as? Double) ?? (last["macs_per_image"] as? Double) ?? (saved?["macs_per_image"] as? Double) ?? 0
        let dense = (dynEval?["dense_macs_per_image"] as? Double) ?? (last["dense_macs_per_image"] as? Double) ?? macs
        var measured: [Int: Double] = [:]
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasPrefix("bench-infer-b") && f.hasSuffix(".json") {
            if let b = try? json(dir + "/" + f), let batch = b["batch"] as? Int, let s = b["measured_speedup"] as? Double { measured[batch] = s }
        }
        let layers = (dynEval?["layers"] as? [[String: Any]])?.map { ($0["name"] as? String ?? "?", $0["mean_kept"] as? Double ?? 0, $0["channels"] as? Int ?? 0) }
        return RunSummary(directory: dir, method: method, model: model["architecture"] as? String ?? "?", dataset: cfg["dataset"] as? String ?? "?",
                          accuracy: last["test_accuracy"] as? Double ?? 0, macsPerImage: macs, denseMacsPerImage: dense,
                          flopSpeedup: macs > 0 ? dense / macs : 1,
                          predictorOverhead: (dynEval?["predictor_overhead"] as? Double)
                              ?? (method == "FBS" ? (last["predictor_overhead"] as? Double) ?? (saved?["predictor_overhead"] as? Double) : nil),
                          measuredSpeedup: measured, perClassRate: dynEval?["per_class_rate"] as? [Double], layerKept: layers,
                          rate: dynEval?["rate_mean"] as? Double)
    }

    /// Writes report.md and the SVG plots into `out`; returns the file paths.
    @discardableResult
    public static func write(runs dirs: [String], to out: String, classNames: [String]? = nil) throws -> [String] {
        let runs = try dirs.map(summarize)
        guard !runs.isEmpty else { throw ReportError("no runs given") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func denseAccuracy(_ r: RunSummary) -> Double? {
            runs.first { $0.method == "dense" && $0.model == r.model && $0.dataset == r.dataset }?.accuracy
        }
        func pct(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }
        func x(_ v: Double?) -> String { v.map { String(format: "%.2fx", $0) } ?? "-" }
        var md = "# DynaSlim report\n\nBuilt by `dynaslim report` from: \(dirs.joined(separator: ", ")).\n\n"
        md += "| method | model | dataset | accuracy | drop vs dense | MACs/image | FLOP speed-up | measured speed-up b1 | measured speed-up b64 | predictor overhead | run |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in runs {
            let drop = denseAccuracy(r).map { String(format: "%+.2f pp", ($0 - r.accuracy) * 100) } ?? "-"
            md += "| \(r.method) | \(r.model) | \(r.dataset) | \(pct(r.accuracy)) | \(drop) | \(String(format: "%.2fM", r.macsPerImage / 1e6)) | "
            md += "\(x(r.flopSpeedup)) | \(x(r.measuredSpeedup[1])) | \(x(r.measuredSpeedup[64])) | "
            md += "\(r.predictorOverhead.map { String(format: "%.2f%%", $0 * 100) } ?? "-") | \((r.directory as NSString).lastPathComponent) |\n"
        }
        md += "\n\"drop vs dense\": accuracy points lost against the dense run of the same model and dataset in this report (positive = worse).\n"
        md += "FLOP speed-up = dense MACs / (model MACs + predictor MACs); measured speed-up = dense engine time / model engine time on the same test images.\n\n"
        var files: [String] = []
        let methods = Array(Set(runs.map(\.method))).sorted()
        func series(_ xv: (RunSummary) -> Double?) -> [SVGSeries] {
            methods.map { m in
                SVGSeries(name: m, points: runs.filter { $0.method == m }.compactMap { r in xv(r).map { ($0, r.accuracy * 100, nil) } })
            }
        }
        let plots: [(String, String)] = [
            ("accuracy_vs_flop_speedup.svg", SVGPlot.scatter(title: "Accuracy vs FLOP speed-up", xLabel: "FLOP speed-up (x)", yLabel: "top-1 accuracy (%)",
                                                             series: series { $0.flopSpeedup })),
            ("accuracy_vs_measured_speedup.svg", SVGPlot.scatter(title: "Accuracy vs measured speed-up (batch 1)", xLabel: "measured speed-up at batch 1 (x)",
                                                                 yLabel: "top-1 accuracy (%)", series: series { $0.measuredSpeedup[1] ?? ($0.method == "dense" ? 1 : nil) })),
        ]
        for (name, svg) in plots { try svg.write(toFile: out + "/" + name, atomically: true, encoding: .utf8); files.append(out + "/" + name); md += "![\(name)](\(name))\n\n" }
        let dynamic = runs.filter { $0.perClassRate != nil }
        if let first = dynamic.first, let rates = first.perClassRate {
            let cats = classNames?.count == rates.count ? classNames! : (0..<rates.count).map { "class \($0)" }
            let svg = SVGPlot.bars(title: "Mean pruning rate per class", yLabel: "pruning rate", categories: cats,
                                   series: dynamic.map { (($0.directory as NSString).lastPathComponent, $0.perClassRate ?? []) })
            try svg.write(toFile: out + "/per_class_rate.svg", atomically: true, encoding: .utf8)
            files.append(out + "/per_class_rate.svg"); md += "![per_class_rate.svg](per_class_rate.svg)\n\n"
        }
        if let first = dynamic.first, let layers = first.layerKept {
            let svg = SVGPlot.bars(title: "Mean active channels per gated layer", yLabel: "active channels", categories: layers.map(\.name),
                                   series: [("channels", layers.map { Double($0.channels) })] + dynamic.map { r in
                                       ((r.directory as NSString).lastPathComponent, (r.layerKept ?? []).map(\.mean)) })
            try svg.write(toFile: out + "/active_channels.svg", atomically: true, encoding: .utf8)
            files.append(out + "/active_channels.svg"); md += "![active_channels.svg](active_channels.svg)\n"
        }
        if let section = try oracleSection(try dirs.compactMap(oracle), runs: runs, out: out) {
            md += "\n" + section.markdown
            files.append(section.file)
        }
        try md.write(toFile: out + "/report.md", atomically: true, encoding: .utf8)
        return [out + "/report.md"] + files
    }
}
