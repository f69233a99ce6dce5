// swift-tools-version: 6.2
//
// libdtd: Deep Taylor Decomposition and LRP for ReLU networks, as libdtd.so behind Include/dtd.h.
//
// The BLAS is a link-time choice: DTD_BLAS=openblas swift build ... links OpenBLAS (or any
// library with the standard CBLAS symbols) instead of the default BLIS.
import PackageDescription

let blas = Context.environment["DTD_BLAS"] ?? "blis"
let root = Context.packageDirectory

let package = Package(
    name: "libdtd",
    products: [
        .library(name: "dtd", type: .dynamic, targets: ["DTD"]),
        // The Swift engine, for packages that depend on this one (bindings/swift/ExplainMLP).
        // DTDCore's unsafe flag is accepted there: SwiftPM allows unsafe flags in path and branch
        // dependencies (since 5.2) and, for tools version 6.2 or later, in version dependencies.
        .library(name: "DTDCore", targets: ["DTDCore"]),
        .executable(name: "dtd-ffi-harness", targets: ["dtd-ffi-harness"]),
        .executable(name: "dtd-bench", targets: ["dtd-bench"]),
    ],
    targets: [
        // The public C header, imported by the boundary so that every @c @implementation
        // function is checked against its declaration.
        .systemLibrary(name: "CDTD", path: "Include"),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CFFI", path: "Sources/CFFI", pkgConfig: "libffi"),
        // Fork detection for the worker pool (a load-time constructor, which Swift cannot write).
        .target(name: "CFork", path: "Sources/CFork"),

        .target(
            name: "DTDCore",
            dependencies: ["CBLAS", "CFork"],
            exclude: ["README.md"],
            // Full cross-module optimisation lets the boundary specialise the generic engine
            // for Float and Double instead of calling it through witness tables.
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"])],
            linkerSettings: [.linkedLibrary(blas)]
        ),
        .target(
            name: "DTD",
            dependencies: ["DTDCore", "CDTD"],
            exclude: ["dtd.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-Xlinker", "-soname=libdtd.so.1",
                    "-Xlinker", "--version-script=\(root)/Sources/DTD/dtd.map",
                    "-Xlinker", "-z", "-Xlinker", "nodelete",
                    "-use-ld=lld",
                ])
            ]
        ),
        .executableTarget(
            name: "dtd-ffi-harness",
            dependencies: ["CFFI"],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .executableTarget(
            name: "dtd-bench",
            dependencies: ["DTDCore", "CBLAS"]
        ),
        .testTarget(
            name: "DTDCoreTests",
            dependencies: ["DTDCore"]
        ),
    ]
)
