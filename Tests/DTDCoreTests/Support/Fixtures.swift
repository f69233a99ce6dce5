import Foundation
import Testing
@testable import DTDCore

// MARK: - Locating the fixtures (no bundle resources: relative to this source file)

enum FixturePaths {
    /// `Tests/`, three levels above `Tests/DTDCoreTests/Support/Fixtures.swift`.
    static let testsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")
    static let zennit = fixtures.appendingPathComponent("zennit")
    /// Zennit's results on graph networks (routes, adds, batch-norms, adaptive pooling).
    static let zennitGraph = fixtures.appendingPathComponent("zennit_graph")
    /// The study's network ships with the Python package as the demo's default network.
    static let studyMLP = testsDirectory.deletingLastPathComponent()
        .appendingPathComponent("bindings/python/dtd/data/dtd_study_mlp.json")
}

struct FixtureError: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - JSON helpers (the fixtures mix numbers, strings, nulls and nested objects)

private func object(_ value: Any?, _ what: String) throws -> [String: Any] {
    guard let o = value as? [String: Any] else { throw FixtureError("\(what) is not an object") }
    return o
}

private func number(_ value: Any?, _ what: String) throws -> Double {
    guard let n = value as? NSNumber else { throw FixtureError("\(what) is not a number") }
    return n.doubleValue
}

private func integers(_ value: Any?, _ what: String) throws -> [Int] {
    guard let a = value as? [NSNumber] else { throw FixtureError("\(what) is not an integer list") }
    return a.map(\.intValue)
}

private func pair(_ value: Any?, _ what: String) throws -> (Int, Int) {
    let a = try integers(value, what)
    guard a.count == 2 else { throw FixtureError("\(what) has \(a.count) values, not 2") }
    return (a[0], a[1])
}

/// `{shape, data}` → (shape, data), checking that they agree.
private func tensor(_ value: Any?, _ what: String) throws -> (shape: [Int], data: [Double]) {
    let o = try object(value, what)
    let shape = try integers(o["shape"], "\(what).shape")
    guard let data = o["data"] as? [NSNumber] else { throw FixtureError("\(what).data is not a number list") }
    guard data.count == shape.reduce(1, *) else { throw FixtureError("\(what): \(data.count) values for shape \(shape)") }
    return (shape, data.map(\.doubleValue))
}

// MARK: - Zennit reference files

/// One case of a Zennit fixture: a method, its per-layer rules (LRP only), a batch of inputs, the
/// output relevance, and Zennit's forward output and input relevance.
struct ZennitCase: Sendable {
    enum Method: String, Sendable { case lrp, gradient, gradientTimesInput = "gradient_x_input" }
    let method: Method
    let name: String
    let rules: [Int: Rule]
    let batch: Int
    let input: [Double]
    let outputRelevance: [Double]
    let expectedOutput: [Double]
    let expectedRelevance: [Double]
}

/// A Zennit 0.5.1 reference file (`Tests/Fixtures/zennit/*.json`, format in its README).
struct ZennitFixture: Sendable {
    let file: String
    let network: NetworkSpec
    let cases: [ZennitCase]

    static let fileNames = ["cnn_avg", "cnn_max", "cnn_poolpad_nobias", "mlp_relu_out", "mlp_small"]
    /// The graph networks' fixtures (`Tests/Fixtures/zennit_graph`).
    static let graphFileNames = ["resnet_tiny", "densenet_tiny", "mlp_skip"]

    /// Every fixture, parsed once.
    static let all: Result<[String: ZennitFixture], FixtureError> = {
        do {
            var result: [String: ZennitFixture] = [:]
            for name in fileNames { result[name] = try load(name) }
            for name in graphFileNames { result[name] = try load(name, directory: FixturePaths.zennitGraph) }
            return .success(result)
        } catch let error as FixtureError {
            return .failure(error)
        } catch {
            return .failure(FixtureError("\(error)"))
        }
    }()

    static func named(_ file: String) throws -> ZennitFixture {
        guard let fixture = try all.get()[file] else { throw FixtureError("no fixture \(file)") }
        return fixture
    }

    static func load(_ file: String, directory: URL = FixturePaths.zennit) throws -> ZennitFixture {
        let url = directory.appendingPathComponent("\(file).json")
        let root = try object(JSONSerialization.jsonObject(with: Data(contentsOf: url)), file)
        var spec = NetworkSpec(name: file, inputShape: try integers(root["input_shape"], "input_shape"))
        guard let layers = root["layers"] as? [[String: Any]] else { throw FixtureError("\(file): no layers") }
        for (index, layer) in layers.enumerated() {
            spec.layers.append(try parseLayer(layer, "\(file) layer \(index)"))
        }
        guard let cases = root["cases"] as? [[String: Any]] else { throw FixtureError("\(file): no cases") }
        return ZennitFixture(file: file, network: spec,
                             cases: try cases.enumerated().map { try parseCase($1, "\(file) case \($0)") })
    }

    private static func parseLayer(_ layer: [String: Any], _ what: String) throws -> LayerSpec {
        func bias() throws -> [Double]? {
            layer["bias"] is NSNull || layer["bias"] == nil ? nil : try tensor(layer["bias"], "\(what).bias").data
        }
        switch layer["type"] as? String {
        case "dense":
            let w = try tensor(layer["weight"], "\(what).weight")
            return .dense(weight: w.data, outFeatures: w.shape[0], inFeatures: w.shape[1], bias: try bias())
        case "conv2d":
            let w = try tensor(layer["weight"], "\(what).weight")
            return .conv2d(ConvSpec(weight: w.data, outChannels: w.shape[0], inChannels: w.shape[1],
                                    kernel: (w.shape[2], w.shape[3]), bias: try bias(),
                                    stride: try pair(layer["stride"], "\(what).stride"),
                                    padding: try pair(layer["padding"], "\(what).padding")))
        case "batchnorm":
            return .batchNorm(gamma: try tensor(layer["gamma"], "\(what).gamma").data,
                              beta: try tensor(layer["beta"], "\(what).beta").data,
                              mean: try tensor(layer["running_mean"], "\(what).running_mean").data,
                              variance: try tensor(layer["running_var"], "\(what).running_var").data,
                              eps: try number(layer["eps"], "\(what).eps"))
        case "route":
            return .route(try integers(layer["from"], "\(what).from"))
        case "add":
            return .add(try integers(layer["from"], "\(what).from"))
        case "identity":
            return .identity
        case "adaptive_avgpool2d":
            return .adaptiveAvgPool2d(outputSize: try pair(layer["output_size"], "\(what).output_size"))
        case "relu":
            return .relu
        case "flatten":
            return .flatten
        case "maxpool2d":
            return .maxPool2d(kernel: try pair(layer["kernel"], "\(what).kernel"),
                              stride: try pair(layer["stride"], "\(what).stride"),
                              padding: try pair(layer["padding"], "\(what).padding"))
        case "avgpool2d":
            return .avgPool2d(kernel: try pair(layer["kernel"], "\(what).kernel"),
                              stride: try pair(layer["stride"], "\(what).stride"),
                              padding: try pair(layer["padding"], "\(what).padding"),
                              countIncludePad: layer["count_include_pad"] as? Bool ?? true)
        case let other:
            throw FixtureError("\(what): unknown layer type \(other ?? "nil")")
        }
    }

    private static func parseCase(_ c: [String: Any], _ what: String) throws -> ZennitCase {
        guard let methodName = c["method"] as? String, let method = ZennitCase.Method(rawValue: methodName) else {
            throw FixtureError("\(what): unknown method \(c["method"] ?? "nil")")
        }
        var rules: [Int: Rule] = [:]
        if let ruleObjects = c["rules"] as? [String: Any] {
            for (key, value) in ruleObjects {
                guard let layer = Int(key) else { throw FixtureError("\(what): rule key \(key) is not a layer index") }
                rules[layer] = try parseRule(try object(value, "\(what) rule \(key)"), "\(what) rule \(key)")
            }
        }
        let input = try tensor(c["input"], "\(what).input")
        return ZennitCase(method: method, name: c["name"] as? String ?? "?", rules: rules, batch: input.shape[0],
                          input: input.data,
                          outputRelevance: try tensor(c["output_relevance"], "\(what).output_relevance").data,
                          expectedOutput: try tensor(c["expected_output"], "\(what).expected_output").data,
                          expectedRelevance: try tensor(c["expected_relevance"], "\(what).expected_relevance").data)
    }

    /// `{"rule": ..., "epsilon"|"gamma"|"alpha"|"beta"|"low"|"high", "stabilizer", "bias"}` → `Rule`.
    static func parseRule(_ o: [String: Any], _ what: String) throws -> Rule {
        let bias: BiasMode
        switch o["bias"] as? String ?? "include" {
        case "include": bias = .include
        case "exclude": bias = .exclude
        case let other: throw FixtureError("\(what): unknown bias mode \(other)")
        }
        let stabilizer = try o["stabilizer"].map { try number($0, "\(what).stabilizer") } ?? 1e-6
        func bounds(_ key: String) throws -> Bounds {
            if let values = o[key] as? [NSNumber] { return .perElement(values.map(\.doubleValue)) }
            return .scalar(try number(o[key], "\(what).\(key)"))
        }
        switch o["rule"] as? String {
        case "epsilon": return .epsilon(try number(o["epsilon"], "\(what).epsilon"), bias: bias)
        case "zplus": return .zPlus(stabilizer: stabilizer, bias: bias)
        case "alphabeta":
            return .alphaBeta(alpha: try number(o["alpha"], "\(what).alpha"), beta: try number(o["beta"], "\(what).beta"),
                              stabilizer: stabilizer, bias: bias)
        case "gamma": return .gamma(try number(o["gamma"], "\(what).gamma"), stabilizer: stabilizer, bias: bias)
        case "wsquare": return .wSquare(stabilizer: stabilizer, bias: bias)
        case "flat": return .flat(stabilizer: stabilizer)
        case "zbox": return .zBox(low: try bounds("low"), high: try bounds("high"), stabilizer: stabilizer, bias: bias)
        case let other: throw FixtureError("\(what): unknown rule \(other ?? "nil")")
        }
    }
}

/// Names one case of one Zennit file: the argument of the parametrised reference tests.
struct ZennitCaseID: Sendable, Hashable, CustomTestStringConvertible {
    let file: String
    let index: Int
    let name: String

    var testDescription: String { "\(file) #\(index) \(name)" }

    /// Every case of every file; a single unloadable placeholder if the files cannot be read, so
    /// the tests fail instead of silently running on nothing.
    static let all: [ZennitCaseID] = {
        guard let fixtures = try? ZennitFixture.all.get() else {
            return [ZennitCaseID(file: "fixtures failed to load", index: -1, name: "")]
        }
        return ZennitFixture.fileNames.flatMap { file in
            (fixtures[file]?.cases ?? []).enumerated().map { ZennitCaseID(file: file, index: $0, name: $1.name) }
        }
    }()

    /// Every case of the graph networks' files (`Tests/Fixtures/zennit_graph`).
    static let graph: [ZennitCaseID] = {
        guard let fixtures = try? ZennitFixture.all.get() else {
            return [ZennitCaseID(file: "fixtures failed to load", index: -1, name: "")]
        }
        return ZennitFixture.graphFileNames.flatMap { file in
            (fixtures[file]?.cases ?? []).enumerated().map { ZennitCaseID(file: file, index: $0, name: $1.name) }
        }
    }()
}

// MARK: - The DTD study's network

/// The 10-10-10-2 ReLU MLP of Sixt & Landgraf and its four input blocks (float32 values).
struct StudyFixture: Sendable {
    let network: NetworkSpec
    let explainedOutput: Int
    /// Per block: its rule column and `(count, 10)` inputs, flattened.
    let blocks: [(column: String, inputs: [Double], count: Int)]

    static func load() throws -> StudyFixture {
        let root = try object(JSONSerialization.jsonObject(with: Data(contentsOf: FixturePaths.studyMLP)), "study")
        var spec = NetworkSpec(name: "dtd study mlp", inputShape: try integers(root["input_shape"], "input_shape"))
        guard let layers = root["layers"] as? [[String: Any]] else { throw FixtureError("study: no layers") }
        for (index, layer) in layers.enumerated() {
            switch layer["type"] as? String {
            case "dense":
                let w = try tensor(layer["weight"], "study layer \(index).weight")
                let b = try tensor(layer["bias"], "study layer \(index).bias")
                spec.layers.append(.dense(weight: w.data, outFeatures: w.shape[0], inFeatures: w.shape[1], bias: b.data))
            case "relu":
                spec.layers.append(.relu)
            case let other:
                throw FixtureError("study layer \(index): unexpected type \(other ?? "nil")")
            }
        }
        guard let blocks = root["input_blocks"] as? [[String: Any]] else { throw FixtureError("study: no input blocks") }
        return StudyFixture(
            network: spec, explainedOutput: Int(try number(root["explained_output"], "explained_output")),
            blocks: try blocks.enumerated().map { index, block in
                guard let rows = block["inputs"] as? [[NSNumber]], rows.allSatisfy({ $0.count == spec.inputCount }) else {
                    throw FixtureError("study block \(index): inputs are not rows of \(spec.inputCount) numbers")
                }
                return (block["column"] as? String ?? "?", rows.flatMap { $0.map(\.doubleValue) }, rows.count)
            })
    }
}
