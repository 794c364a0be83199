import CPNG
import CTurboJPEG
import Foundation
import Testing
import DynaSlimCore
import DynaSlimData
@testable import DynaSlimImages

/// Images made here with the same libraries' encoders: decoding back, channel conversion, bad files,
/// and the resize's weights.
@Suite("Image files")
struct ImageTests {
    /// A w x h image with `channels` interleaved channels of a deterministic pattern.
    func pattern(_ w: Int, _ h: Int, _ channels: Int) -> [UInt8] {
        (0..<(w * h * channels)).map { UInt8(($0 * 37 + ($0 / channels) * 11) % 256) }
    }

    func png(_ pixels: [UInt8], _ w: Int, _ h: Int, format: Int32) -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(w); image.height = UInt32(h); image.format = UInt32(format)
        var size = 0
        _ = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { o in pixels.withUnsafeBytes { png_image_write_to_memory(&image, o.baseAddress, &size, 0, $0.baseAddress, 0, nil) } }
        precondition(ok != 0, "png encode")
        return Array(out.prefix(size))
    }

    func jpeg(_ rgb: [UInt8], _ w: Int, _ h: Int) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = rgb.withUnsafeBufferPointer { tjCompress2(handle, $0.baseAddress, Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), &buffer, &size, Int32(TJSAMP_444.rawValue), 100, 0) }
        precondition(status == 0, "jpeg encode")
        defer { tjFree(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    @Test("PNG: RGB, gray and RGBA decode exactly, to 3 channels or 1")
    func pngDecode() throws {
        let (w, h) = (7, 5)
        let rgb = pattern(w, h, 3), gray = pattern(w, h, 1)
        let a = try ImageDecoder.decode(png(rgb, w, h, format: Int32(PNG_FORMAT_RGB)), file: "rgb.png", channels: 3)
        #expect(a == DecodedImage(width: w, height: h, channels: 3, pixels: rgb))
        let b = try ImageDecoder.decode(png(gray, w, h, format: Int32(PNG_FORMAT_GRAY)), file: "gray.png", channels: 1)
        #expect(b.pixels == gray)
        // Gray stored, RGB wanted: three equal channels.
        let c = try ImageDecoder.decode(png(gray, w, h, format: Int32(PNG_FORMAT_GRAY)), file: "gray.png", channels: 3)
        #expect(c.pixels == gray.flatMap { [$0, $0, $0] })
        // Opaque RGBA decodes to its RGB.
        var rgba: [UInt8] = []
        for i in 0..<(w * h) { rgba += [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255] }
        let rgbaFormat = Int32(PNG_FORMAT_FLAG_COLOR) | Int32(PNG_FORMAT_FLAG_ALPHA)
        let d = try ImageDecoder.decode(png(rgba, w, h, format: rgbaFormat), file: "rgba.png", channels: 3)
        #expect(d.pixels == rgb)
    }

    @Test("JPEG at quality 100 decodes within a few levels of its source")
    func jpegDecode() throws {
        let (w, h) = (16, 12)
        var rgb: [UInt8] = []
        for i in 0..<(w * h) { rgb += [UInt8(i % w * 12), UInt8(i / w * 16), 128] }
        let d = try ImageDecoder.decode(jpeg(rgb, w, h), file: "x.jpg", channels: 3)
        #expect(d.width == w && d.height == h && d.channels == 3)
        let err = zip(d.pixels, rgb).map { abs(Int($0) - Int($1)) }.max()!
        #expect(err <= 4)
        let g = try ImageDecoder.decode(jpeg(rgb, w, h), file: "x.jpg", channels: 1)
        #expect(g.pixels.count == w * h)
    }

    @Test("corrupt, truncated and foreign files are errors naming the file")
    func badFiles() throws {
        let good = png(pattern(8, 8, 3), 8, 8, format: Int32(PNG_FORMAT_RGB))
        let goodJPEG = jpeg(pattern(8, 8, 3), 8, 8)
        let cases: [(String, [UInt8])] = [
            ("empty.png", []), ("text.png", Array("hello, not an image".utf8)),
            ("truncated.png", Array(good.prefix(good.count / 2))), ("header-only.png", Array(good.prefix(8))),
            ("truncated.jpg", Array(goodJPEG.prefix(goodJPEG.count / 2))), ("header-only.jpg", Array(goodJPEG.prefix(3))),
            ("flipped.png", good.enumerated().map { $0.offset == 20 ? $0.element ^ 0xff : $0.element }),
        ]
        for (name, bytes) in cases {
            #expect { _ = try ImageDecoder.decode(bytes, file: name, channels: 3) } throws: { "\($0)".hasPrefix(name) }
        }
        #expect { _ = try ImageDecoder.decode(path: "/nonexistent/x.png", channels: 3) } throws: { "\($0)".contains("/nonexistent/x.png") }
    }

    @Test("resize: identity, constants, 2x2 block means when halving, bilinear when doubling")
    func resize() {
        let img = DecodedImage(width: 4, height: 4, channels: 1, pixels: (0..<16).map { UInt8($0 * 10) })
        #expect(ModelInput.resize(img, width: 4, height: 4) == img.pixels.map(Float.init))
        let half = ModelInput.resize(img, width: 2, height: 2)
        #expect(half == [25, 45, 105, 125])   // means of the four 2x2 blocks
        let flat = DecodedImage(width: 5, height: 3, channels: 3, pixels: [UInt8](repeating: 77, count: 45))
        for (w, h) in [(2, 2), (9, 7), (32, 32)] {
            #expect(ModelInput.resize(flat, width: w, height: h).allSatisfy { abs($0 - 77) < 1e-3 })
        }
        let row = DecodedImage(width: 2, height: 1, channels: 1, pixels: [0, 100])
        #expect(ModelInput.resize(row, width: 4, height: 1) == [0, 25, 75, 100])
        // Every output's weights sum to 1.
        for (n, m) in [(7, 3), (3, 7), (32, 32), (100, 28)] {
            #expect(ModelInput.weights(from: n, to: m).allSatisfy { abs($0.reduce(0) { $0 + $1.1 } - 1) < 1e-5 })
        }
    }

    @Test("the model input is [C, H, W], normalized like the training data")
    func tensor() {
        let img = DecodedImage(width: 1, height: 1, channels: 3, pixels: [255, 0, 51])
        let t = ModelInput.tensor(img, height: 1, width: 1, normalization: Normalization(mean: [0.5, 0.5, 0.2], std: [0.5, 0.25, 0.1]))
        #expect(zip(t, [Float(1), -2, 0]).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}
