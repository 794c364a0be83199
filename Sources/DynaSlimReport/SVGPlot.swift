// Minimal, dependency-free SVG charts: scatter plots (one series per method) and bar charts.
// Output is standalone SVG 1.1 that rsvg-convert and browsers render.
import Foundation

public struct SVGSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double, label: String?)]
    public init(name: String, points: [(x: Double, y: Double, label: String?)]) { self.name = name; self.points = points }
}

public enum SVGPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    static let markers = ["circle", "square", "triangle", "diamond"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    /// "Nice" axis ticks covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        let span = max(hi - lo, 1e-9)
        let raw = span / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = (lo / step).rounded(.down) * step
        var out: [Double] = []
        while t <= hi + step * 1e-6 { if t >= lo - step * 1e-6 { out.append(t) }; t += step }
        return out
    }

    /// Shortest exact label for a tick (93.75 stays 93.75, 94.0 becomes 94).
    static func tickLabel(_ v: Double) -> String {
        if abs(v - v.rounded()) < 1e-9 { return String(Int(v.rounded())) }
        var t = String(format: "%.3f", v)
        while t.hasSuffix("0") { t.removeLast() }
        return t
    }

    public static func scatter(title: String, xLabel: String, yLabel: String, series: [SVGSeries], width: Int = 640, height: Int = 420) -> String {
        let all = series.flatMap(\.points)
        var xs = all.map(\.x), ys = all.map(\.y)
        if xs.isEmpty { xs = [0, 1]; ys = [0, 1] }
        var (x0, x1) = (xs.min()!, xs.max()!), (y0, y1) = (ys.min()!, ys.max()!)
        let xp = max((x1 - x0) * 0.1, 0.05), yp = max((y1 - y0) * 0.15, 0.1)
        x0 -= xp; x1 += xp; y0 -= yp; y1 += yp
        let left = 70.0, right = 170.0, top = 40.0, bottom = 55.0
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * ph }
        var s = header(width, height, title)
        s += axes(left: left, top: top, pw: pw, ph: ph, xTicks: ticks(x0, x1).map { ($0, px($0)) }, yTicks: ticks(y0, y1).map { ($0, py($0)) },
                  xLabel: xLabel, yLabel: yLabel, width: width, height: height)
        for (i, ser) in series.enumerated() {
            let color = palette[i % palette.count]
            for p in ser.points {
                s += marker(markers[i % markers.count], x: px(p.x), y: py(p.y), color: color)
                if let l = p.label { s += "<text x=\"\(fmt(px(p.x) + 7))\" y=\"\(fmt(py(p.y) - 6))\" font-size=\"10\" fill=\"#444\">\(esc(l))</text>\n" }
            }
            let ly = top + 14 + Double(i) * 18
            s += marker(markers[i % markers.count], x: Double(width) - right + 18, y: ly - 4, color: color)
            s += "<text x=\"\(fmt(Double(width) - right + 28))\" y=\"\(fmt(ly))\" font-size=\"12\">\(esc(ser.name))</text>\n"
        }
        return s + "</svg>\n"
    }

    /// Grouped bars: one group per category, one bar per series.
    public static func bars(title: String, yLabel: String, categories: [String], series: [(name: String, values: [Double])],
                            width: Int = 720, height: Int = 420) -> String {
        let left = 70.0, right = 170.0, top = 40.0, bottom = 90.0
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        let maxV = max(series.flatMap(\.values).max() ?? 1, 1e-9) * 1.1
        func py(_ y: Double) -> Double { top + (1 - y / maxV) * ph }
        var s = header(width, height, title)
        let groupW = pw / Double(max(categories.count, 1)), barW = groupW * 0.8 / Double(max(series.count, 1))
        s += axes(left: left, top: top, pw: pw, ph: ph, xTicks: [], yTicks: ticks(0, maxV).map { ($0, py($0)) },
                  xLabel: "", yLabel: yLabel, width: width, height: height)
        for (ci, cat) in categories.enumerated() {
            let gx = left + Double(ci) * groupW + groupW * 0.1
            for (si, ser) in series.enumerated() where ci < ser.values.count {
                let v = ser.values[ci]
                s += "<rect x=\"\(fmt(gx + Double(si) * barW))\" y=\"\(fmt(py(v)))\" width=\"\(fmt(barW * 0.95))\" height=\"\(fmt(max(0, top + ph - py(v))))\" fill=\"\(palette[si % palette.count])\"/>\n"
            }
            let tx = gx + groupW * 0.4
            s += "<text x=\"\(fmt(tx))\" y=\"\(fmt(top + ph + 14))\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-40 \(fmt(tx)) \(fmt(top + ph + 14)))\">\(esc(cat))</text>\n"
        }
        for (i, ser) in series.enumerated() {
            let ly = top + 14 + Double(i) * 18
            s += "<rect x=\"\(fmt(Double(width) - right + 12))\" y=\"\(fmt(ly - 10))\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>\n"
            s += "<text x=\"\(fmt(Double(width) - right + 30))\" y=\"\(fmt(ly))\" font-size=\"12\">\(esc(ser.name))</text>\n"
        }
        return s + "</svg>\n"
    }

    static func header(_ w: Int, _ h: Int, _ title: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" font-family="DejaVu Sans, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(w / 2)" y="22" font-size="15" text-anchor="middle">\(esc(title))</text>

        """
    }

    static func axes(left: Double, top: Double, pw: Double, ph: Double, xTicks: [(Double, Double)], yTicks: [(Double, Double)],
                     xLabel: String, yLabel: String, width: Int, height: Int) -> String {
        var s = "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(pw))\" height=\"\(fmt(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
        for (v, x) in xTicks {
            s += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(top))\" x2=\"\(fmt(x))\" y2=\"\(fmt(top + ph))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(fmt(x))\" y=\"\(fmt(top + ph + 16))\" font-size=\"11\" text-anchor=\"middle\">\(tickLabel(v))</text>\n"
        }
        for (v, y) in yTicks {
            s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y))\" x2=\"\(fmt(left + pw))\" y2=\"\(fmt(y))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(tickLabel(v))</text>\n"
        }
        if !xLabel.isEmpty { s += "<text x=\"\(fmt(left + pw / 2))\" y=\"\(fmt(Double(height) - 12))\" font-size=\"12\" text-anchor=\"middle\">\(esc(xLabel))</text>\n" }
        s += "<text x=\"16\" y=\"\(fmt(top + ph / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(fmt(top + ph / 2)))\">\(esc(yLabel))</text>\n"
        return s
    }

    static func marker(_ kind: String, x: Double, y: Double, color: String) -> String {
        switch kind {
        case "square": return "<rect x=\"\(fmt(x - 5))\" y=\"\(fmt(y - 5))\" width=\"10\" height=\"10\" fill=\"\(color)\"/>\n"
        case "triangle": return "<polygon points=\"\(fmt(x)),\(fmt(y - 6)) \(fmt(x - 6)),\(fmt(y + 5)) \(fmt(x + 6)),\(fmt(y + 5))\" fill=\"\(color)\"/>\n"
        case "diamond": return "<polygon points=\"\(fmt(x)),\(fmt(y - 6)) \(fmt(x - 6)),\(fmt(y)) \(fmt(x)),\(fmt(y + 6)) \(fmt(x + 6)),\(fmt(y))\" fill=\"\(color)\"/>\n"
        default: return "<circle cx=\"\(fmt(x))\" cy=\"\(fmt(y))\" r=\"5\" fill=\"\(color)\"/>\n"
        }
    }
}
