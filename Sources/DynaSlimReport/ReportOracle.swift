// The headroom oracle in the report: for every run directory holding an oracle.json (written by
// `dynaslim eval CKPT --oracle --record`), its two curves (one level for all images; the best per-image
// choice at the same mean MACs) in a table and in one plot beside the runs' own points.
import Foundation

public struct OracleCurves: Sendable {
    public var run: String
    public var recalibrationImages: Int
    /// (level, FLOP speed-up, one level for all, oracle), cheapest level first.
    public var points: [(level: Double, speedup: Double, staticAccuracy: Double, oracleAccuracy: Double)]
    public var staticAt2x: Double?, oracleAt2x: Double?
    public var accuracyTarget: Double
    public var staticSpeedupAtTarget: Double?, oracleSpeedupAtTarget: Double?
}

extension Report {
    /// The oracle.json of `dir`, if there is one.
    public static func oracle(_ dir: String) throws -> OracleCurves? {
        let path = dir + "/oracle.json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let o = try json(path)
        guard let pts = o["points"] as? [[String: Any]] else { throw ReportError("\(path): no points") }
        return OracleCurves(
            run: (dir as NSString).lastPathComponent, recalibrationImages: o["recalibration_images"] as? Int ?? 0,
            points: try pts.map { p in
                guard let l = p["level"] as? Double, let s = p["flop_speedup"] as? Double, let a = p["static_accuracy"] as? Double,
                      let b = p["oracle_accuracy"] as? Double else { throw ReportError("\(path): a point lacks level, flop_speedup or an accuracy") }
                return (l, s, a, b)
            },
            staticAt2x: o["static_accuracy_at_2x"] as? Double, oracleAt2x: o["oracle_accuracy_at_2x"] as? Double,
            accuracyTarget: o["accuracy_target"] as? Double ?? 0.905,
            staticSpeedupAtTarget: o["static_speedup_at_target"] as? Double, oracleSpeedupAtTarget: o["oracle_speedup_at_target"] as? Double)
    }

    /// The report's oracle section (markdown) and plot, or nil when no run has an oracle.json.
    static func oracleSection(_ curves: [OracleCurves], runs: [RunSummary], out: String) throws -> (markdown: String, file: String)? {
        guard !curves.isEmpty else { return nil }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        func x(_ v: Double?) -> String { v.map { String(format: "%.2fx", $0) } ?? "never" }
        var md = "## Headroom oracle\n\nPer backbone: one level for all images vs the best per-image choice of level at the same mean MACs "
        md += "(per image the cheapest level that is right; an upper bound for any predictor on that backbone).\n\n"
        md += "| backbone | BN | at 2x: one level | at 2x: oracle | speed-up at target: one level | oracle |\n|---|---|---|---|---|---|\n"
        for c in curves {
            md += "| \(c.run) | \(c.recalibrationImages > 0 ? "recalibrated per level (\(c.recalibrationImages) images)" : "as trained") | "
            md += "\(pct(c.staticAt2x)) | \(pct(c.oracleAt2x)) | \(x(c.staticSpeedupAtTarget)) at \(pct(c.accuracyTarget)) | \(x(c.oracleSpeedupAtTarget)) |\n"
        }
        // Legend names short enough for the plot's legend column: the run's name only when several backbones share it.
        let label = { (c: OracleCurves, what: String) in curves.count == 1 ? what : "\(c.run): \(what)" }
        let series = curves.flatMap { c in [
            SVGSeries(name: label(c, "one level for all"), points: c.points.map { ($0.speedup, $0.staticAccuracy * 100, nil) }),
            SVGSeries(name: label(c, "oracle"), points: c.points.map { ($0.speedup, $0.oracleAccuracy * 100, nil) }),
        ] } + Array(Set(runs.map(\.method))).sorted().map { m in
            SVGSeries(name: m, points: runs.filter { $0.method == m }.map { ($0.flopSpeedup, $0.accuracy * 100, nil) })
        }
        let svg = SVGPlot.scatter(title: "Headroom oracle: accuracy vs FLOP speed-up", xLabel: "FLOP speed-up (x)", yLabel: "top-1 accuracy (%)", series: series)
        let file = out + "/oracle_headroom.svg"
        try svg.write(toFile: file, atomically: true, encoding: .utf8)
        md += "\n![oracle_headroom.svg](oracle_headroom.svg)\n\n"
        return (md, file)
    }
}
