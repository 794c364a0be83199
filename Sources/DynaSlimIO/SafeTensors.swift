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

    /// Serializes tensors (in the given order) and metadata and replaces `path` atomically (AtomicFile),
    /// so an interrupted save never destroys the previous file.
    public static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata, file: path), to: path)
    }

    /// The file's bytes; `file` names it in errors.
    public static func encode(_ tensors: [NamedTensor], metadata: [String: String], file path: String) throws -> Data {
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
        return out
    }

    public static func atomicWrite(_ data: Data, to path: String) throws { try AtomicFile.write(data, to: path) }

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
        var entries: [(name: String, dtype: NamedTensor.DType, shape: [Int], begin: Int, end: Int, count: Int)] = []
        let dataSize = bytes.count - headerEnd
        func bad(_ reason: String, at offset: Int = 8) -> SafeTensorsError { .malformed(file: file, offset: offset, reason: reason) }
        // Everything is validated before anything is allocated: integers only, checked arithmetic,
        // and the data section covered exactly once (the format forbids holes and overlaps).
        for (name, value) in json {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let str = v as? String else { throw bad("__metadata__ value of \(k) is not a string") }
                    metadata[k] = str
                }
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shapeList = info["shape"] as? [Any], let offList = info["data_offsets"] as? [Any] else {
                throw bad("entry \(name) lacks dtype / shape / data_offsets")
            }
            guard let shape = integers(shapeList), shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("tensor \(name): shape \(shapeList) is not a list of non-negative integers")
            }
            guard let offs = integers(offList), offs.count == 2, offs[0] >= 0, offs[1] >= offs[0] else {
                throw bad("tensor \(name): data_offsets \(offList) is not a pair of non-negative integers [begin, end] with begin <= end")
            }
            guard let dtype = NamedTensor.DType(rawValue: dtypeName) else { throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: dtypeName) }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw bad("tensor \(name): shape \(shape) has more elements than an Int can count") }
                count = p
            }
            let (bytesNeeded, overflow) = count.multipliedReportingOverflow(by: size(of: dtype))
            guard !overflow, offs[1] <= dataSize, offs[1] - offs[0] == bytesNeeded else {
                throw bad("tensor \(name) \(dtype.rawValue) \(shape) needs \(overflow ? "too many" : "\(bytesNeeded)") bytes, offsets \(offs) (data section \(dataSize) bytes)",
                          at: headerEnd + min(offs[0], dataSize))
            }
            entries.append((name, dtype, shape, offs[0], offs[1], count))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var position = 0
        for e in entries {
            guard e.begin == position else {
                throw bad(e.begin < position ? "tensor \(e.name) at bytes \(e.begin)..<\(e.end) overlaps the tensor before it (which ends at \(position))"
                                            : "bytes \(position)..<\(e.begin) of the data section belong to no tensor", at: headerEnd + min(e.begin, position))
            }
            position = e.end
        }
        guard position == dataSize else {
            throw bad("the data section has \(dataSize) bytes but its tensors cover \(position)", at: headerEnd + position)
        }
        var tensors: [NamedTensor] = []
        for e in entries {
            let base = headerEnd + e.begin, width = size(of: e.dtype)
            var values = [Float](repeating: 0, count: e.count)
            for i in 0..<e.count { values[i] = decode(bytes, base + i * width, e.dtype) }
            tensors.append(NamedTensor(name: e.name, shape: e.shape, dtype: e.dtype, values: values))
        }
        return (tensors, metadata)
    }

    /// The list's elements as Ints when every one is an integral JSON number (not a bool, not fractional,
    /// within Int's range); nil otherwise.
    static func integers(_ list: [Any]) -> [Int]? {
        var out: [Int] = []
        for x in list {
            // JSON booleans arrive as NSNumbers of objCType "c" ("x is Bool" is also true for 0 and 1).
            guard let n = x as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
            let d = n.doubleValue
            guard d.isFinite, d == d.rounded(), abs(d) < 9.0e18 else { return nil }
            out.append(n.int64Value == Int64(d) ? Int(n.int64Value) : Int(d))
        }
        return out
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
