public import Foundation
import Tiling
public import GeoIO

/// How objects are formed from a class map (docs/detect.md, "Objects").
public struct ExtractionOptions: Sendable, Codable {
    /// Objects whose area is below this are dropped: square metres, or square pixels with
    /// `pixelCoordinates` on a scene without a CRS. 0 keeps every object.
    public var minArea: Double = 0
    /// Douglas-Peucker tolerance in pixels (topology preserved), applied in pixel space so it
    /// means the same on every CRS. 0 keeps the exact pixel outlines; the default 0.5 turns
    /// one-pixel stair steps into straight edges.
    public var simplify: Double = 0.5
    /// Holes of fewer than this many pixels are filled (removed from the polygon; the area
    /// then includes them, the score stays the mean over the object's own pixels). 0: keep all.
    public var fillHolesBelow: Int = 0
    /// Allows a scene without a CRS: polygons in pixel coordinates as QGIS places such a raster (x = column, y = -row), areas
    /// in pixels only (`area_m2` null). Ignored when the scene has a CRS.
    public var pixelCoordinates: Bool = false
    /// Rows per strip read from the class map: memory is about width x rows x (9 + 4 x instance
    /// classes with probabilities) bytes.
    public var stripRows: Int = 256
    /// Where the temporary object-id raster is written; default the folder of the first output.
    public var scratchDirectory: URL? = nil
    /// Splits objects that are several touching ones (`TouchingSplitter`: distance transform and
    /// marker watershed, object by object in its bounding box). Off by default.
    public var splitTouching: Bool = false
    /// Objects whose bounding box is wider or taller than this many pixels are left whole when
    /// splitting (memory is about 20 bytes per pixel of the box being split).
    public var splitMaxSide: Int = 4096

    public init(minArea: Double = 0, simplify: Double = 0.5, fillHolesBelow: Int = 0, pixelCoordinates: Bool = false,
                stripRows: Int = 256, scratchDirectory: URL? = nil, splitTouching: Bool = false, splitMaxSide: Int = 4096) {
        self.minArea = minArea; self.simplify = simplify; self.fillHolesBelow = fillHolesBelow
        self.pixelCoordinates = pixelCoordinates; self.stripRows = stripRows; self.scratchDirectory = scratchDirectory
        self.splitTouching = splitTouching; self.splitMaxSide = splitMaxSide
    }
}

/// One object as written.
public struct ExtractedObject: Sendable, Equatable {
    /// 1, 2, ... in the order of the object's first pixel (row by row), after filtering.
    public var id: Int
    public var classIndex: Int
    public var className: String
    /// Mean winning-class probability over the object's pixels; nil without probabilities.
    public var score: Double?
    public var pixels: Int
    /// Geodesic area of the written polygon in m²; nil in pixel coordinates.
    public var areaM2: Double?
    /// Planar area of the written polygon in square pixels.
    public var areaPixels: Double
}

/// What an extraction wrote.
public struct ExtractionSummary: Sendable {
    public struct ClassCount: Sendable, Equatable {
        public var name: String
        public var objects: Int
        public init(name: String, objects: Int) { self.name = name; self.objects = objects }
    }
    /// Objects written, per instance class in class order (classes with none included).
    public var perClass: [ClassCount]
    /// The objects written, in id order.
    public var objects: [ExtractedObject]
    /// Connected components found before the minimum-area filter.
    public var components: Int
    /// Objects added by splitting touching objects (a component split in three adds two); 0
    /// without `splitTouching`. Objects before the minimum-area filter: components + splits.
    public var splits: Int
    /// Components dropped by the minimum-area filter.
    public var belowMinArea: Int
}

/// Objects from a stitched class map: connected components of the instance classes, optionally
/// split where several touch, scored by the mean winning-class probability, polygonized,
/// simplified, measured on the ellipsoid and written as RFC 7946 GeoJSON and/or GeoPackage
/// (docs/detect.md).
public struct InstanceExtractor: Sendable {
    public var options: ExtractionOptions

    public init(options: ExtractionOptions = ExtractionOptions()) { self.options = options }

    /// Extracts the objects of `instanceClasses` from a class map (UInt8, 255 nodata, as
    /// `segment` writes it) and writes them.
    /// - Parameters:
    ///   - classMap: the class-map raster.
    ///   - probabilities: optional Float32 raster, one band per class (band c + 1 for class c),
    ///     on the same grid; gives the scores.
    ///   - classNames: names of the class indexes; empty takes the class map's category names.
    ///   - instanceClasses: class indexes whose pixels form objects.
    ///   - geojson: RFC 7946 GeoJSON output (WGS 84 lon/lat), or nil.
    ///   - gpkg: GeoPackage output in the scene's CRS, or nil.
    /// - Throws: `GeoIOError` naming the file or option: unreadable inputs, mismatched grids, an
    ///   existing output without `overwrite`, a scene without a CRS without `pixelCoordinates`.
    public func extract(classMap: String, probabilities: String? = nil, classNames: [String] = [], instanceClasses: Set<Int>,
                        geojson: String?, gpkg: String? = nil, overwrite: Bool) throws -> ExtractionSummary {
        // Outputs first, so an existing file is refused before any work.
        let json = try geojson.map { try OutputFile(path: $0, overwrite: overwrite, role: "objects") }
        let package = try gpkg.map { try OutputFile(path: $0, overwrite: overwrite, role: "GeoPackage") }
        return try extract(classMap: classMap, probabilities: probabilities, classNames: classNames, instanceClasses: instanceClasses,
                           geojson: json, gpkg: package, commit: true)
    }

    /// The same, writing into the temporary files of `geojson` and `gpkg`; with `commit` false
    /// they stay there for an `OutputSet` to commit with the run's other outputs.
    public func extract(classMap: String, probabilities: String? = nil, classNames: [String] = [], instanceClasses: Set<Int>,
                        geojson: OutputFile?, gpkg: OutputFile?, commit: Bool) throws -> ExtractionSummary {
        try extract(classMap: classMap, probabilities: probabilities, classNames: classNames, instanceClasses: instanceClasses,
                    outputs: Self.outputs(geojson: geojson, gpkg: gpkg), commit: commit)
    }

    static func outputs(geojson: OutputFile?, gpkg: OutputFile?) -> [(OutputFile, VectorFormat)] {
        [geojson.map { ($0, VectorFormat.geoJSON) }, gpkg.map { ($0, VectorFormat.geoPackage) }].compactMap { $0 }
    }

    /// The same, into any number of vector files, each in its format: GeoJSON in WGS 84
    /// longitude/latitude (RFC 7946), the others in the scene's CRS. With pixel coordinates
    /// (a scene without a CRS), x is the column and y minus the row, as QGIS places such a
    /// raster, and the files that declare a CRS declare an undefined Cartesian one.
    public func extract(classMap: String, probabilities: String? = nil, classNames: [String] = [], instanceClasses: Set<Int>,
                        outputs: [(OutputFile, VectorFormat)], commit: Bool) throws -> ExtractionSummary {
        guard options.stripRows > 0 else { throw GeoIOError("the strip height must be positive, got \(options.stripRows)") }
        guard options.splitMaxSide > 0 else { throw GeoIOError("the largest box to split must be positive, got \(options.splitMaxSide)") }
        return try writing(classMap: classMap, classNames: classNames, instanceClasses: instanceClasses, outputs: outputs,
                           commit: commit) { map, names, georeferenced, wgs84, writers, scratch in
            let probs = try probabilities.map { try RasterDataset(path: $0) }
            if let probs {
                guard probs.width == map.width, probs.height == map.height else {
                    throw GeoIOError("'\(probs.path)' (\(probs.width)x\(probs.height)) and '\(classMap)' (\(map.width)x\(map.height)) differ in size")
                }
                guard probs.bandCount >= names.count else {
                    throw GeoIOError("'\(probs.path)' has \(probs.bandCount) bands, one per class needs \(names.count)")
                }
            }
            return try run(map: map, probs: probs, names: names, instanceClasses: instanceClasses,
                           georeferenced: georeferenced, wgs84: wgs84, writers: writers, scratch: scratch)
        }
    }

    /// Objects already formed (SAM 3's merged instances, `ObjectMerger`) written as polygons on
    /// the grid of `classMap` (its size, geotransform and CRS): where objects overlap, a pixel
    /// belongs to the one with the higher score; an object's score is its own (`SceneObject.score`),
    /// its pixels those it keeps; ids in the order of first pixel. Objects of classes outside
    /// `instanceClasses` are left out. `splitTouching` does not apply (the objects are SAM 3's).
    public func extract(objects: [SceneObject], classMap: String, classNames: [String] = [], instanceClasses: Set<Int>,
                        outputs: [(OutputFile, VectorFormat)], commit: Bool) throws -> ExtractionSummary {
        try writing(classMap: classMap, classNames: classNames, instanceClasses: instanceClasses, outputs: outputs,
                    commit: commit) { map, names, georeferenced, wgs84, writers, scratch in
            let chosen = objects.filter { instanceClasses.contains($0.classIndex) }
            let ids = try LabelRaster(width: map.width, height: map.height, directory: scratch)
            defer { ids.remove() }
            // Lowest score first, so that a higher score paints over it; ties: the later object.
            for index in chosen.indices.sorted(by: { (chosen[$0].score, $1) < (chosen[$1].score, $0) }) {
                let o = chosen[index]
                let window = PixelWindow(col: o.col, row: o.row, width: o.width, height: o.height)
                var raster = try ids.read(window: window)
                for i in raster.indices where o.mask[i] { raster[i] = UInt32(index + 1) }
                try ids.write(raster, window: window)
            }
            var records = chosen.map { ObjectRecord(classIndex: $0.classIndex, pixels: 0, score: Double($0.score), firstPixel: Int.max) }
            for window in PixelWindow.strips(ofHeight: max(1, options.stripRows), width: map.width, height: map.height) {
                for (i, id) in try ids.read(window: window).enumerated() where id > 0 {
                    let k = Int(id) - 1
                    records[k].pixels += 1
                    records[k].firstPixel = min(records[k].firstPixel, window.row * map.width + i)
                }
            }
            let summary = try writePolygons(records, ids: ids, names: names, instanceClasses: instanceClasses,
                                            georeferenced: georeferenced, wgs84: wgs84, writers: writers)
            return ExtractionSummary(perClass: summary.perClass, objects: summary.objects, components: chosen.count, splits: 0,
                                     belowMinArea: summary.belowMinArea)
        }
    }

    /// The checks, writers and clean-up around an extraction: `body` gets the class map, the
    /// class names, the georeferencing (nil in pixel coordinates), WGS 84, the writers and the
    /// scratch folder; the outputs are finished (committed with `commit`) or discarded.
    private func writing(classMap: String, classNames: [String], instanceClasses: Set<Int>, outputs: [(OutputFile, VectorFormat)],
                         commit: Bool,
                         _ body: (RasterDataset, [String], (GeoTransform, SpatialReference)?, SpatialReference, [VectorWriter], URL) throws -> ExtractionSummary)
        throws -> ExtractionSummary {
        let map = try RasterDataset(path: classMap)
        let names = classNames.isEmpty ? map.categoryNames(band: 1) : classNames
        for c in instanceClasses.sorted() where c < 0 || c >= names.count || c >= ClassMap.maxClasses {
            throw GeoIOError("instance class \(c) is not a class of '\(classMap)' (it has \(names.count) named classes)")
        }
        let georeferenced: (GeoTransform, SpatialReference)?
        if let gt = map.geoTransform, let srs = map.spatialReference {
            georeferenced = (gt, srs)
        } else if options.pixelCoordinates {
            georeferenced = nil
        } else {
            throw GeoIOError("'\(classMap)' has no CRS or geotransform: objects cannot be placed on the Earth or measured in m²; ask for pixel coordinates to write them in pixels",
                             kind: .noGeoreferencing)
        }
        let fields = [VectorField("id", .integer), VectorField("class", .string), VectorField("score", .real),
                      VectorField("area_m2", .real), VectorField("pixels", .integer)]
        let wgs84 = try SpatialReference.wgs84()
        let pixelCRS = try VectorFormat.undefinedCartesian()
        var writers: [VectorWriter] = []
        do {
            for (file, format) in outputs {
                writers.append(try VectorWriter(output: file, format: format, layerName: "objects",
                                                crs: format == .geoJSON ? (georeferenced == nil ? nil : wgs84) : (georeferenced?.1 ?? pixelCRS),
                                                fields: fields, geometryType: format == .geoJSON ? .any : .multiPolygon))
            }
            let summary = try body(map, names, georeferenced, wgs84, writers,
                                   options.scratchDirectory
                                       ?? outputs.first.map { $0.0.url.deletingLastPathComponent() }
                                       ?? FileManager.default.temporaryDirectory)
            for w in writers { try w.finish(commit: commit) }
            return summary
        } catch {
            for w in writers { w.discard() }
            throw error
        }
    }

    /// Pixel coordinates as QGIS places a raster without georeferencing: x the column, y minus
    /// the row (the top edge at y = 0, the raster below it).
    static let pixelToQGIS = GeoTransform(originX: 0, pixelWidth: 1, originY: 0, pixelHeight: -1)

    private func run(map: RasterDataset, probs: RasterDataset?, names: [String], instanceClasses: Set<Int>,
                     georeferenced: (GeoTransform, SpatialReference)?, wgs84: SpatialReference,
                     writers: [VectorWriter], scratch: URL) throws -> ExtractionSummary {
        // Pass 1: components and their statistics, strip by strip.
        let labeler = ComponentLabeler(width: map.width, instanceClasses: instanceClasses)
        let probClasses = instanceClasses.sorted()
        var slot = [Int](repeating: -1, count: 256)
        for (k, c) in probClasses.enumerated() { slot[c] = k }
        for window in PixelWindow.strips(ofHeight: options.stripRows, width: map.width, height: map.height) {
            let classes = try readClasses(map, window)
            var winning: [Float]?
            if let probs {
                let values = try probs.read(window: window, bands: probClasses.map { $0 + 1 })
                let n = window.pixelCount
                var w = [Float](repeating: 0, count: n)
                for i in 0..<n where slot[Int(classes[i])] >= 0 { w[i] = values[slot[Int(classes[i])] * n + i] }
                winning = w
            }
            labeler.add(strip: classes, winning: winning)
        }
        labeler.finish()

        // Pass 2: the object-id raster, then its polygons.
        let ids = try LabelRaster(width: map.width, height: map.height, directory: scratch)
        defer { ids.remove() }
        for window in PixelWindow.strips(ofHeight: options.stripRows, width: map.width, height: map.height) {
            try ids.write(row: window.row, labels: labeler.relabel(strip: try readClasses(map, window)))
        }
        // Optionally, touching objects split in the id raster: objects[id - 1] describes id.
        var objects = labeler.objects
        if options.splitTouching { try splitTouching(&objects, ids: ids, probs: probs) }
        let records = objects.map { ObjectRecord(classIndex: $0.classIndex, pixels: $0.pixels,
                                                 score: probs == nil ? nil : min(1, max(0, $0.probabilitySum / Double($0.pixels))),
                                                 firstPixel: $0.firstPixel) }
        let written = try writePolygons(records, ids: ids, names: names, instanceClasses: instanceClasses,
                                        georeferenced: georeferenced, wgs84: wgs84, writers: writers)
        return ExtractionSummary(perClass: written.perClass, objects: written.objects, components: labeler.objects.count,
                                 splits: objects.count - labeler.objects.count, belowMinArea: written.belowMinArea)
    }

    /// What the polygon writer needs of an object: id `i + 1` in the id raster is `records[i]`.
    struct ObjectRecord {
        var classIndex: Int
        var pixels: Int
        var score: Double?
        var firstPixel: Int
    }

    /// Polygonizes the id raster and writes every object (ids in order of first pixel): holes
    /// filled, simplified, made valid, measured, filtered by the minimum area.
    private func writePolygons(_ objects: [ObjectRecord], ids: LabelRaster, names: [String], instanceClasses: Set<Int>,
                               georeferenced: (GeoTransform, SpatialReference)?, wgs84: SpatialReference,
                               writers: [VectorWriter]) throws -> (perClass: [ExtractionSummary.ClassCount], objects: [ExtractedObject], belowMinArea: Int) {
        var parts = [[Geometry]](repeating: [], count: objects.count)
        for (id, polygon) in try ids.polygonize() where id >= 1 && id <= parts.count { parts[id - 1].append(polygon) }
        ids.remove()

        let toWGS84 = try georeferenced.map { try CoordinateTransform(from: $0.1, to: wgs84) }
        var extracted: [ExtractedObject] = []
        var belowMinArea = 0
        // Ids in order of first pixel (split parts after the first come after the components).
        for index in objects.indices.sorted(by: { objects[$0].firstPixel < objects[$1].firstPixel }) {
            let stats = objects[index]
            guard !parts[index].isEmpty, stats.pixels > 0 else { continue }
            let pixelShape = parts[index].count == 1 ? parts[index][0] : Geometry.collect(parts[index])
            pixelShape.removeHoles(smallerThan: Double(options.fillHolesBelow))
            let shape = try pixelShape.simplified(tolerance: options.simplify).madeValid()
            let areaPixels = shape.planarArea
            guard areaPixels > 0 else { continue }
            var written = shape
            var lonLat: Geometry?
            var area = areaPixels
            var areaM2: Double?
            if georeferenced == nil {
                written = shape.copy()
                written.apply(Self.pixelToQGIS)
            } else if let gt = georeferenced?.0, let toWGS84 {
                written = shape.copy()
                written.apply(gt)
                let ll = written.copy()
                try ll.transform(toWGS84)
                lonLat = try ll.madeValid()
                area = Geodesy.area(lonLat: lonLat!)
                areaM2 = area
            }
            if area < options.minArea { belowMinArea += 1; continue }
            let object = ExtractedObject(
                id: extracted.count + 1, classIndex: stats.classIndex, className: names[stats.classIndex],
                score: stats.score, pixels: stats.pixels, areaM2: areaM2, areaPixels: areaPixels)
            extracted.append(object)
            let properties: [FieldValue?] = [.integer(object.id), .string(object.className), object.score.map { .real($0) },
                                             object.areaM2.map { .real($0) }, .integer(object.pixels)]
            for writer in writers {
                let geometry = writer.format == .geoJSON ? (lonLat ?? written) : written
                try writer.add(geometry, properties: properties)
            }
        }
        let perClass = instanceClasses.sorted().map { c in
            ExtractionSummary.ClassCount(name: names[c], objects: extracted.filter { $0.classIndex == c }.count)
        }
        return (perClass, extracted, belowMinArea)
    }

    /// Splits every object that is several touching ones (`TouchingSplitter`), one object at a
    /// time inside its bounding box: its window of the id raster is read, split, and written
    /// back with the first part (the one holding the object's first pixel) keeping the object's
    /// id and the others taking new ids after the last. `objects[id - 1]` then describes each
    /// id, parts with their own pixels, probability sums, boxes and first pixels. Objects too
    /// small to hold two parts, or whose box exceeds `splitMaxSide`, are left as they are.
    private func splitTouching(_ objects: inout [ComponentStats], ids: LabelRaster, probs: RasterDataset?) throws {
        let splitter = TouchingSplitter()
        for index in objects.indices {
            let object = objects[index], box = object.box
            guard object.pixels >= splitter.smallestSplittable,
                  box.width <= options.splitMaxSide, box.height <= options.splitMaxSide else { continue }
            let window = PixelWindow(col: box.minX, row: box.minY, width: box.width, height: box.height)
            var raster = try ids.read(window: window)
            let id = UInt32(index + 1)
            let (labels, count) = splitter.split(mask: raster.map { $0 == id }, width: box.width, height: box.height)
            guard count > 1 else { continue }
            let winning = try probs?.read(window: window, bands: [object.classIndex + 1])
            let firstNewId = objects.count + 1
            var stats = [ComponentStats](repeating: ComponentStats(classIndex: object.classIndex, pixels: 0, probabilitySum: 0), count: count)
            for y in 0..<box.height {
                for x in 0..<box.width where labels[y * box.width + x] > 0 {
                    let i = y * box.width + x, part = Int(labels[i]) - 1
                    if stats[part].pixels == 0 { stats[part].firstPixel = (box.minY + y) * ids.width + box.minX + x }
                    stats[part].pixels += 1
                    stats[part].box.include(x: box.minX + x, y: box.minY + y)
                    if let winning { stats[part].probabilitySum += Double(winning[i]) }
                    raster[i] = part == 0 ? id : UInt32(firstNewId + part - 1)
                }
            }
            try ids.write(raster, window: window)
            objects[index] = stats[0]
            objects.append(contentsOf: stats[1...])
        }
    }

    private func readClasses(_ map: RasterDataset, _ window: PixelWindow) throws -> [UInt8] {
        try map.read(window: window, bands: [1]).map { v in v >= 0 && v <= Float(ClassMap.nodata) ? UInt8(v) : ClassMap.nodata }
    }
}
