import ArgumentParser

/// Range checks for command-line options: each failure names the option, the value and the allowed range.
enum OptionCheck {
    static func closed<T: Comparable>(_ option: String, _ value: T, _ lo: T, _ hi: T) throws {
        guard value >= lo && value <= hi else { throw ValidationError("\(option) \(value) is outside \(lo)...\(hi)") }
    }
    static func atLeast<T: Comparable>(_ option: String, _ value: T, _ lo: T) throws {
        guard value >= lo else { throw ValidationError("\(option) \(value) must be at least \(lo)") }
    }
    /// lo <= value < hi, finite.
    static func halfOpen<T: BinaryFloatingPoint>(_ option: String, _ value: T, _ lo: T, _ hi: T) throws {
        guard value.isFinite, value >= lo, value < hi else { throw ValidationError("\(option) \(value) is outside [\(lo), \(hi))") }
    }
    /// lo < value <= hi, finite.
    static func openClosed<T: BinaryFloatingPoint>(_ option: String, _ value: T, _ lo: T, _ hi: T) throws {
        guard value.isFinite, value > lo, value <= hi else { throw ValidationError("\(option) \(value) is outside (\(lo), \(hi)]") }
    }
    static func finite<T: BinaryFloatingPoint>(_ option: String, _ value: T) throws {
        guard value.isFinite else { throw ValidationError("\(option) \(value) is not a finite number") }
    }
}
