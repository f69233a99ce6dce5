import Testing

/// The measure every array tolerance of this suite uses (Comparison.swift) must not let a wrong
/// result through: each sample is measured against its own scale, not the batch's.
@Suite("Comparison")
struct ComparisonTests {
    /// Issue 16's example: a sample at 0.2 % of the batch maximum that is 5 % wrong. Against the
    /// batch maximum it would be 1e-4 off and pass a float32 tolerance; per sample it is 5e-2.
    @Test func aSmallSampleCannotHideItsErrorBehindALargeOne() {
        let expected: [Double] = [1000, -500, 2, 1]
        let actual: [Double] = [1000, -500, 2.1, 1.05]
        #expect(abs(relativeError(actual, expected, samples: 2) - 0.05) < 1e-12)
        #expect(relativeError(actual, expected, samples: 1) < 1.1e-4, "what a batch-global measure would report")
    }

    /// Per element: an entry at least `perElementAbove` of its sample's largest is measured
    /// against itself; smaller ones against that floor.
    @Test func perElementMeasuresEachEntryAgainstItself() {
        let expected: [Double] = [100, 1, 1e-9]
        #expect(abs(relativeError([100, 1.01, 1e-9], expected, samples: 1, perElementAbove: 1e-3) - 0.01) < 1e-12)
        #expect(abs(relativeError([100, 1.01, 1e-9], expected, samples: 1) - 1e-4) < 1e-12)
        // The near-zero entry: 1e-3 off absolutely, against the floor 1e-3 * 100.
        #expect(abs(relativeError([100, 1, 1e-3], expected, samples: 1, perElementAbove: 1e-3) - 1e-2) < 1e-8)
    }

    /// A NaN, a length mismatch or a batch that does not divide the values is never "close".
    @Test func nanAndMismatchesAreInfinitelyFar() {
        #expect(relativeError([1, .nan], [1.0, 2], samples: 1) == .infinity)
        #expect(relativeError([1, 2], [1.0, .nan], samples: 1) == .infinity)
        #expect(relativeError([1, 2, 3], [1.0, 2], samples: 1) == .infinity)
        #expect(relativeError([1, 2, 3], [1.0, 2, 3], samples: 2) == .infinity)
        #expect(relativeError([0, 1e-20], [0.0, 0], samples: 2) == 1e-20, "an all-zero sample is measured absolutely")
    }

    /// `discrepancy` names where the worst error is.
    @Test func discrepancyNamesTheWorstElement() {
        let worst = discrepancy([1, 2, 3, 4.5], [1.0, 2, 3, 4], samples: 2)
        #expect(worst.sample == 1 && worst.element == 1 && worst.actual == 4.5 && worst.expected == 4)
    }
}
