/// Size limits that keep every product of sizes in range and every BLAS dimension in `Int32`.
public enum Limits {
    /// Largest size of any dimension, per-sample activation, weight matrix side or batch: BLAS
    /// dimensions are 32-bit. (A padded im2col stride stays below it: padding applies only to
    /// rows of a multiple of 256 floats or 128 doubles.)
    public static let maxDimension = Int(Int32.max)

    /// `a * b`, or `.overflow` naming `what`.
    public static func product(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws(DTDError) -> Int {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw DTDError(.overflow, "\(what()): \(a) x \(b) overflows int64") }
        return value
    }

    /// The product of `values`, or `.overflow` naming `what`.
    public static func product(_ values: [Int], _ what: @autoclosure () -> String) throws(DTDError) -> Int {
        var result = 1
        for v in values {
            let (value, overflow) = result.multipliedReportingOverflow(by: v)
            guard !overflow else {
                throw DTDError(.overflow, "\(what()): the product of \(values) overflows int64")
            }
            result = value
        }
        return result
    }

    /// Checks that `value` is a positive size no larger than `maxDimension`.
    public static func checkSize(_ value: Int, _ name: @autoclosure () -> String) throws(DTDError) {
        guard value > 0 else { throw DTDError(.size, "\(name()) must be positive, got \(value)") }
        guard value <= maxDimension else {
            throw DTDError(.size, "\(name()) = \(value) exceeds the limit \(maxDimension)")
        }
    }
}
