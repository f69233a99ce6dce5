@testable import DTDCore

extension Rule {
    /// Every rule kind, in both bias modes where the rule has one, with zero and non-zero
    /// stabilisers: the argument list of every test that must hold "for every rule"
    /// (`@Test(arguments: Rule.allTestCases)`, STYLE.md d).
    static let allTestCases: [Rule] = [
        .epsilon(0, bias: .include), .epsilon(0, bias: .exclude), .epsilon(1e-6, bias: .include),
        .epsilon(0.25, bias: .include), .epsilon(0.25, bias: .exclude),
        .zPlus(stabilizer: 0, bias: .include), .zPlus(stabilizer: 1e-6, bias: .exclude), .zPlus(stabilizer: 0.1, bias: .include),
        .alphaBeta(alpha: 2, beta: 1, stabilizer: 1e-6, bias: .include), .alphaBeta(alpha: 1, beta: 0, stabilizer: 0, bias: .exclude),
        .alphaBeta(alpha: 3, beta: 2, stabilizer: 0.1, bias: .exclude),
        .gamma(0.25, stabilizer: 1e-6, bias: .include), .gamma(1, stabilizer: 0, bias: .exclude),
        .gamma(0.5, stabilizer: 0.1, bias: .include),
        .wSquare(stabilizer: 1e-6, bias: .include), .wSquare(stabilizer: 0, bias: .exclude), .wSquare(stabilizer: 0.1, bias: .include),
        .flat(stabilizer: 1e-6), .flat(stabilizer: 0),
        .zBox(low: .scalar(-1), high: .scalar(1), stabilizer: 1e-6, bias: .include),
        .zBox(low: .scalar(-2), high: .scalar(0.5), stabilizer: 0, bias: .exclude),
    ]
}
