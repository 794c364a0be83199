// Image files to pixels, through the system's well-kept decoders: libpng's simplified API for PNG and
// TurboJPEG for JPEG. The format is told by the file's first bytes, not its name. Both decoders
// convert to the channel count the model needs (gray: 1, RGB: 3; PNG alpha is composited away).
import CPNG
import CTurboJPEG
import Foundation

/// An 8-bit image, rows top to bottom, channels interleaved: pixels[(y * width + x) * channels + c].
public struct DecodedImage: Sendable, Equatable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
}

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case unsupportedFormat(file: String)
    case corrupt(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): return "\(f): cannot read: \(r)"
        case let .unsupportedFormat(f): return "\(f): not a PNG or JPEG file"
        case let .corrupt(f, r): return "\(f): corrupt image: \(r)"
        }
    }
}

public enum ImageDecoder {
    /// Images larger than this on a side are refused before any pixel buffer is allocated.
    public static let maximumSide = 16_384

    /// Decodes the PNG or JPEG file at `path` to `channels` (1 or 3) channels.
    public static func decode(path: String, channels: Int) throws -> DecodedImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError.unreadable(file: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied or a folder" : "no such file")
        }
        return try decode([UInt8](data), file: path, channels: channels)
    }

    /// Decodes PNG or JPEG bytes; `file` names them in errors.
    public static func decode(_ bytes: [UInt8], file: String, channels: Int) throws -> DecodedImage {
        precondition(channels == 1 || channels == 3, "decode to 1 or 3 channels")
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try decodePNG(bytes, file: file, channels: channels) }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(bytes, file: file, channels: channels) }
        throw ImageError.unsupportedFormat(file: file)
    }

    static func checkSize(_ w: Int, _ h: Int, file: String) throws {
        guard w > 0, h > 0, w <= maximumSide, h <= maximumSide else {
            throw ImageError.corrupt(file: file, reason: "size \(w)x\(h) is outside 1...\(maximumSide) on a side")
        }
    }

    static func decodePNG(_ bytes: [UInt8], file: String, channels: Int) throws -> DecodedImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        func message() -> String {
            withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let began = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard began != 0 else { throw ImageError.corrupt(file: file, reason: message()) }
        let w = Int(image.width), h = Int(image.height)
        try checkSize(w, h, file: file)
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let finished = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(w * channels), nil) }
        guard finished != 0 else { throw ImageError.corrupt(file: file, reason: message()) }
        return DecodedImage(width: w, height: h, channels: channels, pixels: pixels)
    }

    static func decodeJPEG(_ bytes: [UInt8], file: String, channels: Int) throws -> DecodedImage {
        guard let handle = tjInitDecompress() else { throw ImageError.corrupt(file: file, reason: "TurboJPEG could not start") }
        defer { tjDestroy(handle) }
        func message() -> String { String(cString: tjGetErrorStr2(handle)) }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &w, &h, &subsampling, &colorspace) }
        guard header == 0 else { throw ImageError.corrupt(file: file, reason: message()) }
        try checkSize(Int(w), Int(h), file: file)
        var pixels = [UInt8](repeating: 0, count: Int(w) * Int(h) * channels)
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        let status = bytes.withUnsafeBufferPointer { src in pixels.withUnsafeMutableBufferPointer { dst in
            tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, w, 0, h, Int32(format.rawValue), 0)
        } }
        // A truncated JPEG decodes with a warning (grey rows at the bottom): refuse it like an error.
        guard status == 0 else { throw ImageError.corrupt(file: file, reason: message()) }
        return DecodedImage(width: Int(w), height: Int(h), channels: channels, pixels: pixels)
    }
}
