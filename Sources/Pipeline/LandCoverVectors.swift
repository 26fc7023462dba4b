public import GeoIO
import Instances

extension OutputRole {
    /// The land cover as polygons (`segment --vectors`).
    public static let vectors = "vectors"
}

extension SegmentRequest {
    /// The land-cover polygons' output, in the format of `vectors`' extension.
    var vectorRequests: [OutputSet.Request] {
        guard let vectors else { return [] }
        let format = VectorFormat(path: vectors) ?? .geoJSON
        return [OutputSet.Request(path: vectors, role: OutputRole.vectors, extensions: VectorFormat.allExtensions, siblingExtensions: format.siblingExtensions)]
    }
}

extension RunFrame {
    /// Polygonizes every class of the finished class map into `vectors` (docs/segment.md,
    /// "Land cover as polygons"): one feature per 8-connected region with its class, score (with
    /// Float32 probabilities), area on the ellipsoid and pixels; outlines simplified by half a
    /// pixel with their topology kept, made valid. `InstanceExtractor` does the work strip by
    /// strip, so memory follows the scene's width, not its size.
    func writeVectors(outputs: OutputSet, written: SegmentOutputs, request: SegmentRequest, progress: (@Sendable (RunProgress) -> Void)?) throws {
        guard let file = outputs.file(role: OutputRole.vectors), let path = request.vectors else { return }
        announce("land-cover polygons", progress)
        let georeferenced = scene.spatialReference != nil && scene.geoTransform != nil
        _ = try InstanceExtractor(options: ExtractionOptions(simplify: 0.5, pixelCoordinates: !georeferenced)).extract(
            classMap: written.classMapPath, probabilities: request.probabilityEncoding == .float32 ? written.probabilitiesPath : nil,
            classNames: outputClasses.map(\.name), instanceClasses: Set(outputClasses.indices),
            outputs: [(file, VectorFormat(path: path) ?? .geoJSON)], commit: false)
    }
}
