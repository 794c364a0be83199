// IDX files (LeCun's MNIST format, also Fashion-MNIST), plain or gzipped:
// magic 0x0000 08 NN (unsigned byte, NN dimensions), NN big-endian UInt32 sizes, then the data.
// Images are idx3 (magic 0x00000803), labels idx1 (0x00000801).
import DynaSlimCore

public enum IDXReader {
    static func bigEndian32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    /// Parses an IDX unsigned-byte file; returns its dimensions and the data bytes.
    public static func parse(_ bytes: [UInt8], file: String, expectedDims: Int) throws -> (dims: [Int], data: ArraySlice<UInt8>) {
        let expectedMagic = UInt32(0x0800) | UInt32(expectedDims)
        guard bytes.count >= 4 else { throw DataError.truncated(file: file, offset: 0, needed: 4, available: bytes.count) }
        let magic = bigEndian32(bytes, 0)
        guard magic == expectedMagic else { throw DataError.badMagic(file: file, found: magic, expected: expectedMagic) }
        let header = 4 + 4 * expectedDims
        guard bytes.count >= header else { throw DataError.truncated(file: file, offset: bytes.count, needed: header, available: bytes.count) }
        let dims = (0..<expectedDims).map { Int(bigEndian32(bytes, 4 + 4 * $0)) }
        // Checked: three 32-bit sizes can multiply past Int's range.
        var needed = 1
        for d in dims {
            let (p, overflow) = needed.multipliedReportingOverflow(by: d)
            guard !overflow, p <= Int(Int32.max) else {
                throw DataError.shapeMismatch(file: file, message: "dims \(dims) describe more data than any IDX file holds")
            }
            needed = p
        }
        guard dims.dropFirst().allSatisfy({ $0 > 0 }) else { throw DataError.shapeMismatch(file: file, message: "dims \(dims) include an empty image side") }
        needed += header
        guard bytes.count >= needed else { throw DataError.truncated(file: file, offset: bytes.count, needed: needed, available: bytes.count) }
        guard bytes.count == needed else {
            throw DataError.shapeMismatch(file: file, message: "\(bytes.count - needed) unexpected trailing bytes at byte \(needed) after dims \(dims)")
        }
        return (dims, bytes[header..<needed])
    }

    /// Loads an images file and its labels file into a dataset (1 channel).
    public static func load(images imagesPath: String, labels labelsPath: String, name: String, classes: Int = 10,
                            classNames: [String]? = nil) throws -> ImageDataset {
        let (idims, pixels) = try parse(FileReading.readAll(imagesPath), file: imagesPath, expectedDims: 3)
        let (ldims, labelBytes) = try parse(FileReading.readAll(labelsPath), file: labelsPath, expectedDims: 1)
        guard idims[0] == ldims[0] else {
            throw DataError.shapeMismatch(file: labelsPath, message: "\(ldims[0]) labels for \(idims[0]) images in \(imagesPath)")
        }
        var labels = [Int32](repeating: 0, count: ldims[0])
        for (i, b) in labelBytes.enumerated() {
            guard Int(b) < classes else { throw DataError.labelOutOfRange(file: labelsPath, offset: 8 + i, label: Int(b), classes: classes) }
            labels[i] = Int32(b)
        }
        return try ImageDataset(name: name, images: Array(pixels), labels: labels, shape: FeatureShape(c: 1, h: idims[1], w: idims[2]),
                                classes: classes, classNames: classNames)
    }
}
