/// stab(d) = d + s sign(d) with sign(0) = +1, as in Zennit and RelevancePropagation.jl: the
/// stabiliser pushes a denominator away from zero in its own direction.
@inline(__always)
func stabilize<T: DTDScalar>(_ d: T, _ s: T) -> T {
    d >= 0 ? d + s : d - s
}

/// r / d, or 0 when d is exactly 0 (possible only with a zero stabiliser): a share, never NaN.
@inline(__always)
func share<T: DTDScalar>(_ r: T, _ d: T) -> T {
    d == 0 ? 0 : r / d
}
