// swift-tools-version: 6.0
// Landscribe: open-vocabulary mapping of whole satellite and aerial scenes.
// This file reads as the table of contents: C libraries, then the library targets in the
// order data flows through them, then the tool and the tests. See docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "Landscribe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "landscribe", targets: ["landscribe"]),
        .library(name: "Landscribe", targets: ["Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries: three small files each, nothing else.
        .systemLibrary(name: "CGDAL", pkgConfig: "gdal", providers: [.apt(["libgdal-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // oneDNN has no pkg-config file: the module map links "dnnl".
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CPROJ", pkgConfig: "proj", providers: [.apt(["libproj-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),

        // Geospatial I/O: every GDAL/OGR/OSR call lives here.
        .target(name: "GeoIO", dependencies: ["CGDAL", "CPROJ"]),
        // Tile grid, blend weights, strip stitcher: plain Swift.
        .target(name: "Tiling"),
        // Exponentials, activations and attention products in C, for AVX-512, AVX2 + FMA or baseline, chosen at run time.
        .target(name: "CKernels"),
        // Tensors and every matrix product (oneDNN or OpenBLAS, chosen at run time).
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CDNNL", "CKernels"]),
        // Model ids, the local cache, resumable checked downloads, SHA-256 digests: everything
        // network-related, so the model code knows nothing about HTTP.
        .target(name: "ModelHub", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // CLIP: weights, tokenizer, encoders.
        .target(name: "CLIP", dependencies: ["Tensor"]),
        // SAM 3 (transformers Sam3Model): config, strict loading, the image path for text prompts
        // (backbone, FPN neck, text features, DETR encoder and decoder, scoring, mask decoder).
        .target(name: "SAM3", dependencies: ["CLIP", "Tensor"]),
        // The dense CLIP head, vocabulary, rotation ensemble (docs/METHOD.md).
        .target(name: "Segmentation", dependencies: ["CLIP", "SAM3", "Tensor", "Tiling"]),
        // Objects from class maps: components, polygons.
        .target(name: "Instances", dependencies: ["GeoIO", "Tiling"]),
        // The preview picture: scene, class overlay, legend (cairo).
        .target(name: "Preview", dependencies: ["CCairo", "GeoIO"]),
        // Pipeline files, the run loop, progress, provenance.
        .target(name: "Pipeline", dependencies: [
            "GeoIO", "Tiling", "Tensor", "Segmentation", "Instances", "CLIP", "SAM3", "ModelHub", "Preview",
            .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // The command-line tool: commands live in a library so tests can reach them.
        .target(name: "LandscribeCLI", dependencies: [
            "Pipeline", "CLIP", "SAM3", "ModelHub", "GeoIO", "Tiling", "Segmentation", "Instances", "Tensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "landscribe", dependencies: ["LandscribeCLI"]),

        // libFuzzer targets (docs/fuzzing.md): `make fuzz` builds them with -sanitize=fuzzer,address;
        // a plain build makes replay tools that run the target on the files named.
        .target(name: "FuzzSupport", path: "Sources/Fuzz/FuzzSupport"),
        .executableTarget(name: "FuzzSafetensors", dependencies: ["CLIP", "Tensor", "FuzzSupport"], path: "Sources/Fuzz/FuzzSafetensors"),
        .executableTarget(name: "FuzzConfig", dependencies: ["CLIP", "FuzzSupport"], path: "Sources/Fuzz/FuzzConfig"),
        .executableTarget(name: "FuzzTokenizer", dependencies: ["CLIP", "FuzzSupport"], path: "Sources/Fuzz/FuzzTokenizer"),
        .executableTarget(name: "FuzzPipeline", dependencies: ["Pipeline", "FuzzSupport"], path: "Sources/Fuzz/FuzzPipeline"),
        .executableTarget(name: "FuzzExemplars", dependencies: ["Pipeline", "GeoIO", "FuzzSupport"], path: "Sources/Fuzz/FuzzExemplars"),

        // Synthetic rasters for the tests, written through GDAL directly.
        .target(name: "TestSupport", dependencies: ["CGDAL", "GeoIO"], path: "Sources/TestSupport"),
        // Golden tensors of the Tools/ fixture scripts, for the parity tests only.
        .target(name: "GoldenSupport", dependencies: ["Tensor"], path: "Sources/GoldenSupport"),
        .testTarget(name: "GeoIOTests", dependencies: ["GeoIO", "TestSupport"]),
        .testTarget(name: "TilingTests", dependencies: ["Tiling"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "GoldenSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "Tensor", "GoldenSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SAM3Tests", dependencies: ["SAM3", "CLIP", "Tensor", "GoldenSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SegmentationTests", dependencies: ["Segmentation", "CLIP", "SAM3", "Tensor", "Tiling"], exclude: ["Fixtures"]),
        .testTarget(name: "InstancesTests", dependencies: ["Instances", "GeoIO", "TestSupport", "Tiling"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "GeoIO", "Tiling", "Segmentation", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["LandscribeCLI", "GeoIO", "TestSupport", "SAM3", "CLIP", "Tensor"], exclude: ["Fixtures"]),
        // The library example of docs/ARCHITECTURE.md: the `Landscribe` product (Pipeline) alone.
        .testTarget(name: "LibraryTests", dependencies: ["Pipeline", "TestSupport"]),
        // Links in README.md and docs/, and the docs pages the code cites, resolve.
        .testTarget(name: "DocsTests"),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
