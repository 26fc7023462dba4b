import Foundation
public import GeoIO
import Segmentation
import Tiling

/// What a run did with the exemplar file (METHOD.md section 10): in the summary and `--json`.
public struct ExemplarSummary: Codable, Sendable, Equatable {
    public struct ClassCount: Codable, Sendable, Equatable {
        public let name: String
        public let exemplars: Int
    }
    public struct Skipped: Codable, Sendable, Equatable {
        /// "feature 3 (FID 2)".
        public let feature: String
        public let reason: String
    }
    public let file: String
    public let weight: Float
    /// Usable exemplars per class with prompts, in pipeline order.
    public let classes: [ClassCount]
    public let skipped: [Skipped]
    /// Distinct windows encoded for the keys.
    public let windows: Int
    /// Exemplars holding no cell centre, keyed by the cell of their point-on-surface.
    public let fallbacks: Int
}

/// What exemplars need of a scene: its size and georeferencing.
public struct SceneGrid: Sendable {
    public let path: String
    public let width: Int, height: Int
    public let geoTransform: GeoTransform?
    public let crs: SpatialReference?

    public init(path: String, width: Int, height: Int, geoTransform: GeoTransform?, crs: SpatialReference?) {
        self.path = path; self.width = width; self.height = height; self.geoTransform = geoTransform; self.crs = crs
    }

    public init(_ scene: RasterDataset) {
        self.init(path: scene.path, width: scene.width, height: scene.height, geoTransform: scene.geoTransform, crs: scene.spatialReference)
    }
}

/// The exemplar polygons of a run, read and placed on the scene's pixel grid: each usable
/// feature's class (an index into the vocabulary's classes) and geometry in scene pixel
/// coordinates (x = column, y = row; pixel (0, 0) covers [0, 1) x [0, 1)).
public struct ExemplarSet {
    public struct Exemplar {
        public let label: String
        public let classIndex: Int
        public let geometry: Geometry
    }
    public let file: String
    public let exemplars: [Exemplar]
    public let skipped: [ExemplarSummary.Skipped]

    /// Reads `settings.file` for `scene`. Features that cannot serve (no or unknown class, not a
    /// polygon, empty, invalid beyond MakeValid's repair, outside the scene) are skipped with the
    /// reason; a missing file, one without a `class` attribute, without features or without one
    /// usable feature is an error, as is a scene without CRS unless `pixelCoordinates`.
    /// Every error is a `SettingsError` (the fuzz target FuzzExemplars enters here).
    public static func load(_ settings: ExemplarSettings, scene: SceneGrid, classNames: [String]) throws -> ExemplarSet {
        do {
            return try read(settings, scene: scene, classNames: classNames)
        } catch let e as GeoIOError {
            throw SettingsError("exemplars: \(e.description)")
        }
    }

    private static func read(_ settings: ExemplarSettings, scene: SceneGrid, classNames: [String]) throws -> ExemplarSet {
        let path = settings.file
        let layer = try VectorReader.readLayer(path: path)
        guard !layer.features.isEmpty else { throw SettingsError("exemplars '\(path)': the file has no features") }
        guard let field = layer.fields.first(where: { $0.name.lowercased() == "class" }) else {
            let names = layer.fields.map(\.name)
            throw SettingsError("exemplars '\(path)': no attribute 'class' naming each polygon's class (fields: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        guard field.isString else { throw SettingsError("exemplars '\(path)': attribute '\(field.name)' is not a string field") }
        let toPixels: (Geometry) throws -> Void
        if let crs = scene.crs, let forward = scene.geoTransform, let inverse = forward.inverted() {
            let transform = try layer.crs.flatMap { $0.isSame(as: crs) ? nil : try CoordinateTransform(from: $0, to: crs) }
            toPixels = { g in
                if let transform { try g.transform(transform) }
                g.apply(inverse)
            }
        } else if settings.pixelCoordinates {
            toPixels = { _ in }
        } else {
            throw SettingsError("exemplars '\(path)': the scene '\(scene.path)' has no CRS or georeferencing, so polygons cannot be placed on it; detect --pixel-coordinates reads them as pixel coordinates")
        }
        var exemplars: [Exemplar] = [], skipped: [ExemplarSummary.Skipped] = []
        for f in layer.features {
            let label = "feature \(f.number)" + (f.fid >= 0 ? " (FID \(f.fid))" : "")
            func skip(_ reason: String) { skipped.append(.init(feature: label, reason: reason)) }
            guard case .string(let raw)? = f.properties[field.name], !raw.trimmingCharacters(in: .whitespaces).isEmpty else {
                skip("no class"); continue
            }
            let name = raw.trimmingCharacters(in: .whitespaces)
            guard let classIndex = classNames.firstIndex(where: { $0.lowercased() == name.lowercased() }) else {
                let hint = Suggestion.nearest(to: name, among: classNames).map { "; did you mean '\($0)'?" } ?? " (classes: \(classNames.joined(separator: ", ")))"
                skip("class '\(name)' is not a pipeline class with prompts\(hint)"); continue
            }
            guard let original = f.geometry else {
                skip(f.geometryType == "none" ? "no geometry" : "a \(f.geometryType), not a polygon"); continue
            }
            guard !f.isEmpty else { skip("empty geometry"); continue }
            let geometry: Geometry
            do { geometry = try original.madeValid() } catch { skip("invalid geometry that MakeValid cannot repair"); continue }
            guard !geometry.polygons.isEmpty, geometry.planarArea > 0 else { skip("invalid geometry with no area left after MakeValid"); continue }
            do { try toPixels(geometry) } catch { skip("cannot be transformed to the scene's CRS"); continue }
            let e = geometry.envelope
            guard [e.minX, e.maxX, e.minY, e.maxY].allSatisfy({ $0.isFinite && abs($0) < 1e15 }) else {
                skip("coordinates out of range on the scene's grid"); continue
            }
            guard e.maxX > 0, e.minX < Double(scene.width), e.maxY > 0, e.minY < Double(scene.height) else {
                skip("outside the scene"); continue
            }
            exemplars.append(Exemplar(label: label, classIndex: classIndex, geometry: geometry))
        }
        guard !exemplars.isEmpty else {
            let reasons = skipped.prefix(3).map { "\($0.feature): \($0.reason)" }.joined(separator: "; ")
            throw SettingsError("exemplars '\(path)': none of the \(layer.features.count) features is usable (\(reasons)\(skipped.count > 3 ? "; ..." : ""))")
        }
        return ExemplarSet(file: path, exemplars: exemplars, skipped: skipped)
    }

    /// METHOD.md 10.1's window of an exemplar whose bounding box is centred on (cx, cy) (scene
    /// pixels): start floor(c) - S/2 clamped to [0, max(0, N - S)], length min(S, N) per axis.
    public static func window(centreX cx: Double, centreY cy: Double, tile: Int, width: Int, height: Int) -> PixelWindow {
        func start(_ c: Double, _ n: Int) -> Int {    // clamped as a Double: any centre, even a huge one, is safe
            let s = c.rounded(.down) - Double(tile / 2)
            return s.isNaN ? 0 : Int(min(max(s, 0), Double(max(0, n - tile))))
        }
        return PixelWindow(col: start(cx, width), row: start(cy, height), width: min(tile, width), height: min(tile, height))
    }

    /// Each exemplar as the segmenter takes it: its window read like a tile, the rasterized
    /// polygon over the window and `patch` pixels around it (cell centres in the padding fall
    /// there; pixels off the scene are outside), and the point-on-surface.
    func windows(reader: TileReader, tile: Int, patch: Int) throws -> [ExemplarWindow] {
        let (width, height) = (reader.scene.width, reader.scene.height)
        var images: [PixelWindow: TileImage] = [:]
        return try exemplars.map { ex in
            let e = ex.geometry.envelope
            let w = Self.window(centreX: (e.minX + e.maxX) / 2, centreY: (e.minY + e.maxY) / 2, tile: tile, width: width, height: height)
            if images[w] == nil { images[w] = try reader.read(Tile.window(col: w.col, row: w.row, width: w.width, height: w.height)) }
            let around = PixelWindow(col: w.col - patch, row: w.row - patch, width: w.width + 2 * patch, height: w.height + 2 * patch)
                .clamped(width: width, height: height)!
            let mask = try ex.geometry.rasterized(window: around)
            let point = ex.geometry.pointOnSurface ?? ((e.minX + e.maxX) / 2, (e.minY + e.maxY) / 2)
            return ExemplarWindow(image: images[w]!, classIndex: ex.classIndex, pointOnSurface: (point.x - Double(w.col), point.y - Double(w.row))) { x, y in
                let (sx, sy) = (x + w.col, y + w.row)
                guard around.contains(col: sx, row: sy) else { return false }
                return mask[(sy - around.row) * around.width + sx - around.col] != 0
            }
        }
    }
}
