// safetensors (huggingface/safetensors): 8-byte little-endian header length N, an N-byte JSON
// header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
// (offsets relative to the byte after the header), then the raw little-endian tensor bytes.
// Reads F32, F64, F16, BF16, I64, I32, I8, U8 (converted to Float); writes F32 and I64.
import Foundation

public enum SafeTensorsError: Error, CustomStringConvertible {
    case io(file: String, reason: String)
    case malformed(file: String, offset: Int, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)

    public var description: String {
        switch self {
        case let .io(file, reason): return "\(file): \(reason)"
        case let .malformed(file, offset, reason): return "\(file): malformed safetensors at byte \(offset): \(reason)"
        case let .unsupportedDType(file, tensor, dtype): return "\(file): tensor \(tensor) has unsupported dtype \(dtype)"
        }
    }
}

public struct NamedTensor: Equatable, Sendable {
    public enum DType: String, Sendable { case f32 = "F32", i64 = "I64", f64 = "F64", f16 = "F16", bf16 = "BF16", i32 = "I32", i8 = "I8", u8 = "U8" }
    public var name: String
    public var shape: [Int]
    public var dtype: DType
    public var values: [Float]
    public init(name: String, shape: [Int], dtype: DType = .f32, values: [Float]) {
        self.name = name; self.shape = shape; self.dtype = dtype; self.values = values
    }
}

public enum SafeTensors {
    static func size(of d: NamedTensor.DType) -> Int {
        switch d { case .f32, .i32: 4; case .i64, .f64: 8; case .f16, .bf16: 2; case .i8, .u8: 1 }
    }

    /// Serializes tensors (in the given order) and metadata. Writing is atomic: a temp file in the
    /// same folder, then rename, so an interrupted save never destroys the previous file.
    public static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        var header = "{"
        var offset = 0
        var parts: [String] = []
        if !metadata.isEmpty {
            let meta = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(meta)}")
        }
        for t in tensors {
            guard t.dtype == .f32 || t.dtype == .i64 else { throw SafeTensorsError.unsupportedDType(file: path, tensor: t.name, dtype: t.dtype.rawValue) }
            guard t.values.count == t.shape.reduce(1, *) else {
                throw SafeTensorsError.malformed(file: path, offset: 0, reason: "tensor \(t.name) has \(t.values.count) values for shape \(t.shape)")
            }
            let bytes = t.values.count * size(of: t.dtype)
            parts.append("\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }  // pad with spaces to 8-byte alignment
        var out = Data(capacity: 8 + headerBytes.count + offset)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for t in tensors {
            switch t.dtype {
            case .f32: t.values.withUnsafeBufferPointer { b in
                for v in b { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { out.append(contentsOf: $0) } } }
            default: for v in t.values { var le = Int64(v).littleEndian; withUnsafeBytes(of: &le) { out.append(contentsOf: $0) } }
            }
        }
        try atomicWrite(out, to: path)
    }

    public static func atomicWrite(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try data.write(to: tmp)
            if rename(tmp.path, url.path) != 0 { throw SafeTensorsError.io(file: path, reason: "rename from \(tmp.path) failed (errno \(errno))") }
        } catch let e as SafeTensorsError {
            try? FileManager.default.removeItem(at: tmp); throw e
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw SafeTensorsError.io(file: path, reason: "write failed: \(error.localizedDescription)")
        }
    }

    /// Parses a safetensors file; tensors come back in file-offset order.
    public static func read(_ path: String) throws -> (tensors: [NamedTensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw SafeTensorsError.io(file: path, reason: "cannot read file") }
        return try parse([UInt8](data), file: path)
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> (tensors: [NamedTensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw SafeTensorsError.malformed(file: file, offset: 0, reason: "file has \(bytes.count) bytes, header length needs 8") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw SafeTensorsError.malformed(file: file, offset: 0, reason: "header length \(n) exceeds file size \(bytes.count)")
        }
        let headerEnd = 8 + Int(n)
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
            throw SafeTensorsError.malformed(file: file, offset: 8, reason: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var tensors: [(Int, NamedTensor)] = []
        let dataSize = bytes.count - headerEnd
        for (name, value) in json {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafeTensorsError.malformed(file: file, offset: 8, reason: "__metadata__ is not an object") }
                for (k, v) in m { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offs = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), offs.count == 2 else {
                throw SafeTensorsError.malformed(file: file, offset: 8, reason: "entry \(name) lacks dtype / shape / data_offsets")
            }
            guard let dtype = NamedTensor.DType(rawValue: dtypeName) else { throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: dtypeName) }
            let count = shape.reduce(1, *), width = size(of: dtype)
            guard offs[0] >= 0, offs[1] >= offs[0], offs[1] <= dataSize, offs[1] - offs[0] == count * width else {
                throw SafeTensorsError.malformed(file: file, offset: headerEnd + max(0, offs[0]),
                                                 reason: "tensor \(name) \(dtype.rawValue) \(shape) needs \(count * width) bytes, offsets \(offs) (data section \(dataSize) bytes)")
            }
            let base = headerEnd + offs[0]
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count { values[i] = decode(bytes, base + i * width, dtype) }
            tensors.append((offs[0], NamedTensor(name: name, shape: shape, dtype: dtype, values: values)))
        }
        return (tensors.sorted { $0.0 < $1.0 }.map(\.1), metadata)
    }

    @inline(__always)
    static func decode(_ b: [UInt8], _ o: Int, _ d: NamedTensor.DType) -> Float {
        func le(_ k: Int) -> UInt64 { var v: UInt64 = 0; for i in 0..<k { v |= UInt64(b[o + i]) << (8 * UInt64(i)) }; return v }
        switch d {
        case .f32: return Float(bitPattern: UInt32(le(4)))
        case .f64: return Float(Double(bitPattern: le(8)))
        case .i64: return Float(Int64(bitPattern: le(8)))
        case .i32: return Float(Int32(bitPattern: UInt32(le(4))))
        case .i8: return Float(Int8(bitPattern: b[o]))
        case .u8: return Float(b[o])
        case .bf16: return Float(bitPattern: UInt32(le(2)) << 16)
        case .f16: return halfToFloat(UInt16(le(2)))
        }
    }

    /// IEEE binary16 -> Float (portable: Float16 is unavailable on Intel macOS).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exp = Int((h >> 10) & 0x1f), frac = Float(h & 0x3ff)
        if exp == 0 { return sign * frac * pow(2, -24) }
        if exp == 31 { return frac == 0 ? sign * .infinity : .nan }
        return sign * (1 + frac / 1024) * pow(2, Float(exp - 15))
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 { out += String(format: "\\u%04x", ch.value) } else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }
}
