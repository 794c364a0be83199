// Typed errors for shape mismatches: every kernel entry validates its buffers against its
// geometry and throws one of these, naming both shapes, instead of reading out of bounds.

public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let operation: String
    public let message: String
    public init(_ operation: String, _ message: String) {
        self.operation = operation
        self.message = message
    }
    public var description: String { "\(operation): shape mismatch: \(message)" }

    /// Throws unless `count == expected`, naming the buffer and the shape it should have (`shape` is
    /// built only on failure: checks run per call in the engine's hot path).
    @inline(__always)
    public static func check(_ operation: String, _ name: String, count: Int, expected: Int, shape: @autoclosure () -> [Int]) throws(ShapeError) {
        if count != expected {
            throw ShapeError(operation, "\(name) has \(count) elements, expected \(expected) for shape \(shape())")
        }
    }

    @inline(__always)
    public static func require(_ condition: Bool, _ operation: String, _ message: @autoclosure () -> String) throws(ShapeError) {
        if !condition { throw ShapeError(operation, message()) }
    }
}
