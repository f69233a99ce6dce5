// swift-tools-version: 6.2
//
// An example package that uses libdtd's Swift engine, the DTDCore library product, by depending
// on the libdtd package by path (a version dependency works the same way). Run it from here:
//   swift run
import PackageDescription

let package = Package(
    name: "ExplainMLP",
    dependencies: [
        // `name:` fixes the package's name whatever the checkout's directory is called.
        .package(name: "libdtd", path: "../../.."),
    ],
    targets: [
        .executableTarget(
            name: "ExplainMLP",
            dependencies: [.product(name: "DTDCore", package: "libdtd")]
        ),
    ]
)
