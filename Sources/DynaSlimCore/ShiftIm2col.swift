// A faster im2col for the common "same" convolutions (stride 1 with 2p = k-1, and stride s with
// H, W divisible by s and Ho = H/s, Wo = W/s: the ResNet / VGG 3x3 and stride-2 convs).
//
// For such a conv every im2col row (channel c, tap ky, kx) is one input plane shifted by a
// constant: with q = ky - p, phase a = q mod s, dy = floor(q / s) (same for x),
//   col[c,ky,kx][oy*Wo + ox] = phase_{a,b}(x_c)[(oy + dy) * Wo + (ox + dx)]  (0 outside the plane)
// where phase_{a,b}(x_c)[i, j] = x_c[s*i + a, s*j + b] (the input itself when s = 1). So a row is
// one contiguous copy of ~Ho*Wo floats plus a few zeroed columns, instead of Ho short copies
// with bounds checks: this moves im2col from ~1-2 ns to ~0.2 ns per element (BENCHMARKS.md).

enum ShiftIm2col {
    @inline(__always)
    static func applies(_ g: Conv2DGeometry) -> Bool {
        let s = g.stride
        return g.inHeight % s == 0 && g.inWidth % s == 0 && g.outHeight == g.inHeight / s && g.outWidth == g.inWidth / s
            && g.padding < g.kernelHeight && g.padding < g.kernelWidth
    }

    /// Floats of scratch needed for the phase planes of one sample (0 when s = 1).
    static func phaseScratch(_ g: Conv2DGeometry) -> Int { g.stride == 1 ? 0 : g.inChannels * g.inPlane }

    /// floor division and non-negative modulo.
    @inline(__always) static func split(_ q: Int, _ s: Int) -> (phase: Int, shift: Int) {
        let a = ((q % s) + s) % s
        return (a, (q - a) / s)
    }

    /// Splits sample x [C, H, W] into s*s phase planes, layout [C][a][b][Ho][Wo].
    static func makePhases(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, _ phases: UnsafeMutablePointer<Float>) {
        let s = g.stride, H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth
        for c in 0..<g.inChannels {
            let plane = x + c * H * W
            for a in 0..<s { for b in 0..<s {
                let dst = phases + ((c * s + a) * s + b) * Ho * Wo
                for i in 0..<Ho {
                    let src = plane + (s * i + a) * W + b
                    let d = dst + i * Wo
                    for j in 0..<Wo { d[j] = src[s * j] }
                }
            } }
        }
    }

    /// Adds phase-plane gradients back into dx [C, H, W] (overwrites dx).
    static func scatterPhases(_ g: Conv2DGeometry, _ phases: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let s = g.stride, H = g.inHeight, W = g.inWidth, Ho = g.outHeight, Wo = g.outWidth
        for c in 0..<g.inChannels {
            let plane = dx + c * H * W
            for a in 0..<s { for b in 0..<s {
                let src = phases + ((c * s + a) * s + b) * Ho * Wo
                for i in 0..<Ho {
                    let d = plane + (s * i + a) * W + b
                    let r = src + i * Wo
                    for j in 0..<Wo { d[s * j] = r[j] }
                }
            } }
        }
    }

    /// im2col of one sample into `col` (rows `ld` apart). `phaseBuffer` must hold phaseScratch(g) floats.
    static func im2col(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int,
                       phaseBuffer: UnsafeMutablePointer<Float>) {
        let s = g.stride, Ho = g.outHeight, Wo = g.outWidth, P = Ho * Wo
        let kh = g.kernelHeight, kw = g.kernelWidth, p = g.padding
        let source: UnsafePointer<Float>
        if s == 1 { source = x } else { makePhases(g, x, phaseBuffer); source = UnsafePointer(phaseBuffer) }
        for c in 0..<g.inChannels {
            for ky in 0..<kh {
                let (a, dy) = split(ky - p, s)
                let oyLo = max(0, -dy), oyHi = min(Ho, Ho - dy)
                for kx in 0..<kw {
                    let (b, dx) = split(kx - p, s)
                    let plane = source + ((c * s + a) * s + b) * P
                    let row = col + ((c * kh + ky) * kw + kx) * ld
                    // Rows outside the plane are zero.
                    if oyLo > 0 { row.update(repeating: 0, count: oyLo * Wo) }
                    if oyHi < Ho { (row + oyHi * Wo).update(repeating: 0, count: (Ho - oyHi) * Wo) }
                    if oyLo >= oyHi { continue }
                    // Bulk shifted copy of output positions [oyLo*Wo, oyHi*Wo), clamped to the plane.
                    let shift = dy * Wo + dx
                    let lo = max(oyLo * Wo, -shift), hi = min(oyHi * Wo, P - shift)
                    if lo > oyLo * Wo { (row + oyLo * Wo).update(repeating: 0, count: lo - oyLo * Wo) }
                    if hi > lo { (row + lo).update(from: plane + lo + shift, count: hi - lo) }
                    if hi < oyHi * Wo { (row + hi).update(repeating: 0, count: oyHi * Wo - hi) }
                    // Columns that wrapped around a row edge are padding: zero them.
                    if dx < 0 {
                        for oy in oyLo..<oyHi { for ox in 0..<min(-dx, Wo) { row[oy * Wo + ox] = 0 } }
                    } else if dx > 0 {
                        for oy in oyLo..<oyHi { for ox in max(0, Wo - dx)..<Wo { row[oy * Wo + ox] = 0 } }
                    }
                }
            }
        }
    }

    /// dx (overwritten) = col2im(dcol) for one sample. Modifies `dcol` (zeroes wrapped columns).
    static func col2im(_ g: Conv2DGeometry, _ dcol: UnsafeMutablePointer<Float>, ld: Int, _ dxOut: UnsafeMutablePointer<Float>,
                       phaseBuffer: UnsafeMutablePointer<Float>) {
        let s = g.stride, Ho = g.outHeight, Wo = g.outWidth, P = Ho * Wo
        let kh = g.kernelHeight, kw = g.kernelWidth, p = g.padding
        let target = s == 1 ? dxOut : phaseBuffer
        target.update(repeating: 0, count: g.inChannels * g.inPlane)
        for c in 0..<g.inChannels {
            for ky in 0..<kh {
                let (a, dy) = split(ky - p, s)
                let oyLo = max(0, -dy), oyHi = min(Ho, Ho - dy)
                if oyLo >= oyHi { continue }
                for kx in 0..<kw {
                    let (b, dx) = split(kx - p, s)
                    let plane = target + ((c * s + a) * s + b) * P
                    let row = dcol + ((c * kh + ky) * kw + kx) * ld
                    if dx < 0 {
                        for oy in oyLo..<oyHi { for ox in 0..<min(-dx, Wo) { row[oy * Wo + ox] = 0 } }
                    } else if dx > 0 {
                        for oy in oyLo..<oyHi { for ox in max(0, Wo - dx)..<Wo { row[oy * Wo + ox] = 0 } }
                    }
                    let shift = dy * Wo + dx
                    let lo = max(oyLo * Wo, -shift), hi = min(oyHi * Wo, P - shift)
                    if hi <= lo { continue }
                    let d = plane + shift
                    for i in lo..<hi { d[i] += row[i] }
                }
            }
        }
        if s != 1 { scatterPhases(g, UnsafePointer(phaseBuffer), dxOut) }
    }
}
