// swift-tools-version:6.0
// DynaSlim: dynamic network slimming for CNNs on CPUs.
// Module graph (one-way): DynaSlimCore <- DynaSlimNN <- (slimming / engine, later);
// DynaSlimData and DynaSlimIO at the side; the `dynaslim` CLI on top.
import PackageDescription

let package = Package(
    name: "DynaSlim",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "DynaSlim", targets: ["DynaSlimCore", "DynaSlimNN", "DynaSlimData", "DynaSlimIO", "DynaSlimTrain", "DynaSlimSlimming", "DynaSlimEngine", "DynaSlimReport", "DynaSlimImages", "DynaSlimFetch", "DynaSlimBench"]),
        .executable(name: "dynaslim", targets: ["dynaslim"]),
        .executable(name: "classify-images", targets: ["ClassifyImages"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
    ],
    targets: [
        // OpenBLAS on Linux (apt: libopenblas-dev); on Apple platforms the shim is unused (Accelerate).
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        // zlib for gzipped IDX files (apt: zlib1g-dev).
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // Image decoders for `dynaslim predict`: libpng (apt: libpng-dev) and TurboJPEG (apt: libturbojpeg0-dev).
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(
            name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"]), .brew(["jpeg-turbo"])]),
        // Dataset downloads: libarchive (apt: libarchive-dev) unpacks, libcrypto (apt: libssl-dev) checks MD5.
        .systemLibrary(
            name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"]), .brew(["libarchive"])]),
        .systemLibrary(
            name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]),
        // Hand-vectorized C kernels (direct 3x3 conv): AVX2+FMA chosen at run time, portable otherwise.
        .target(name: "CKernels"),
        .target(
            name: "DynaSlimCore",
            dependencies: ["CKernels", .target(name: "CBLAS", condition: .when(platforms: [.linux]))]),
        .target(name: "DynaSlimNN", dependencies: ["DynaSlimCore"]),
        .target(name: "DynaSlimData", dependencies: ["DynaSlimCore", "CZlib"]),
        .target(name: "DynaSlimIO", dependencies: ["DynaSlimCore", "DynaSlimNN"]),
        // Static Network Slimming (and, next, dynamic slimming): importance, policy, physical removal.
        .target(name: "DynaSlimSlimming", dependencies: ["DynaSlimCore", "DynaSlimNN"]),
        // Image files -> model inputs: decode (PNG, JPEG), convert channels, resize, normalize.
        .target(name: "DynaSlimImages", dependencies: ["CPNG", "CTurboJPEG", "DynaSlimCore", "DynaSlimData"]),
        // `--download`: the datasets from their publishers, checksum-verified, resumable, unpacked atomically.
        .target(name: "DynaSlimFetch", dependencies: ["CArchive", "CCrypto", "DynaSlimData"]),
        // Reports: tables and SVG plots built only from run directories' files.
        .target(name: "DynaSlimReport", dependencies: []),
        // Inference-only executor that skips gated channels for real (BN folded, ReLU fused).
        .target(name: "DynaSlimEngine", dependencies: ["CKernels", "DynaSlimCore", "DynaSlimNN", "DynaSlimSlimming",
                                                       .product(name: "Atomics", package: "swift-atomics")]),
        // Training loop, evaluation, run directories (config, metrics.jsonl, checkpoints, resume).
        .target(name: "DynaSlimTrain", dependencies: ["DynaSlimCore", "DynaSlimNN", "DynaSlimData", "DynaSlimIO", "DynaSlimSlimming"]),
        // Benchmark commands' measurements (inference engine vs dense, training throughput): ratios from one run.
        .target(name: "DynaSlimBench", dependencies: ["DynaSlimCore", "DynaSlimNN", "DynaSlimData", "DynaSlimSlimming", "DynaSlimEngine", "DynaSlimTrain"]),
        .executableTarget(
            name: "dynaslim",
            dependencies: [
                "DynaSlimCore", "DynaSlimNN", "DynaSlimData", "DynaSlimIO", "DynaSlimTrain", "DynaSlimSlimming", "DynaSlimEngine", "DynaSlimReport",
                "DynaSlimImages", "DynaSlimFetch", "DynaSlimBench", "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The library as an app uses it (compiled by the test command): checkpoint -> engine -> images.
        .executableTarget(
            name: "ClassifyImages", dependencies: ["DynaSlimCore", "DynaSlimData", "DynaSlimEngine", "DynaSlimImages", "DynaSlimIO", "DynaSlimSlimming", "DynaSlimTrain"],
            path: "Examples/ClassifyImages"),
        .testTarget(name: "DynaSlimCoreTests", dependencies: ["CKernels", "DynaSlimCore"]),
        .testTarget(name: "DynaSlimNNTests", dependencies: ["DynaSlimCore", "DynaSlimNN"]),
        .testTarget(name: "DynaSlimDataTests", dependencies: ["DynaSlimCore", "DynaSlimData", "CZlib"]),
        .testTarget(name: "DynaSlimIOTests", dependencies: ["DynaSlimCore", "DynaSlimNN", "DynaSlimIO"]),
        .testTarget(name: "DynaSlimSlimmingTests", dependencies: ["DynaSlimCore", "DynaSlimNN", "DynaSlimSlimming"]),
        .testTarget(name: "DynaSlimEngineTests", dependencies: ["DynaSlimCore", "DynaSlimNN", "DynaSlimSlimming", "DynaSlimEngine"]),
        .testTarget(name: "DynaSlimReportTests", dependencies: ["DynaSlimReport"]),
        .testTarget(name: "DynaSlimFetchTests", dependencies: ["DynaSlimData", "DynaSlimFetch"], exclude: ["Fixtures"]),
        .testTarget(name: "DynaSlimImagesTests", dependencies: ["CPNG", "CTurboJPEG", "DynaSlimCore", "DynaSlimData", "DynaSlimImages"]),
        .testTarget(name: "DynaSlimTrainTests", dependencies: ["DynaSlimCore", "DynaSlimNN", "DynaSlimData", "DynaSlimIO", "DynaSlimTrain", "DynaSlimSlimming", "DynaSlimEngine", "DynaSlimBench"],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
