public import Foundation
public import GeoIO

extension OutputRole {
    /// The QGIS style beside a class map (`<name>.qml`).
    public static let style = "style"
    /// The STAC item beside a class map (`<name>.stac.json`).
    public static let stacItem = "STAC item"
    /// The confidence raster beside a class map (`<name>.confidence.tif`).
    public static let confidence = "confidence"
}

/// The files that travel with a class map `<name>.tif` (docs/segment.md, "Which file carries
/// what"), named from it:
/// - `<name>.qml`: a QGIS style (paletted renderer: value, colour and class name of every
///   class; the nodata value 255 is transparent, as the GeoTIFF declares). QGIS loads it by
///   itself when it opens `<name>.tif`, so a copy of the two files opens styled.
/// - `<name>.stac.json`: a STAC Item (label, classification, projection, raster and
///   processing extensions): classes with values, colours and pixel counts, the grid's outline
///   and bounding box in WGS 84 longitude/latitude, the provenance.
/// - `<name>.confidence.tif` with `--confidence`: the winning probability as 0..100 (its own
///   file: GDAL tags a second band of a paletted GeoTIFF as Alpha whatever it is told).
/// Each is an output of the run's `OutputSet`: written under a temporary name, refused when it
/// exists without overwrite, renamed with the class map, removed with it on failure.
public struct ClassMapSidecars: Sendable {
    public let classMap: String
    public let style: String
    public let stacItem: String
    public let confidence: String

    public init(classMap: String) {
        self.classMap = classMap
        let url = URL(fileURLWithPath: classMap)
        let folder = classMap.contains("/") ? url.deletingLastPathComponent().path + "/" : ""
        let stem = url.deletingPathExtension().lastPathComponent
        style = folder + stem + ".qml"
        stacItem = folder + stem + ".stac.json"
        confidence = folder + stem + ".confidence.tif"
    }

    /// The requests of the side outputs, for the run's `OutputSet`.
    public func requests(confidence withConfidence: Bool) -> [OutputSet.Request] {
        [OutputSet.Request(path: style, role: OutputRole.style, extensions: ["qml"]),
         OutputSet.Request(path: stacItem, role: OutputRole.stacItem, extensions: ["json"])]
            + (withConfidence ? [OutputSet.Request(path: confidence, role: OutputRole.confidence, sideSuffixes: [".aux.xml"], extensions: ["tif"])] : [])
    }

    /// The QGIS style of a class map: a paletted renderer on band 1.
    public static func qml(classes: [OutputClass]) -> String {
        func escaped(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let entries = classes.enumerated().map { i, c in
            "        <paletteEntry value=\"\(i)\" color=\"\(c.color.hex)\" alpha=\"\(c.color.a)\" label=\"\(escaped(c.name))\"/>"
        }
        return """
        <!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
        <!-- landscribe \(LandscribeVersion.current): the classes of the map beside this file; value 255 is nodata (transparent) -->
        <qgis version="3.22.0" styleCategories="AllStyleCategories">
          <pipe>
            <provider>
              <resampling enabled="false" maxOversampling="2" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>
            </provider>
            <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
              <rasterTransparency/>
              <minMaxOrigin>
                <limits>None</limits>
                <extent>WholeRaster</extent>
                <statAccuracy>Estimated</statAccuracy>
                <cumulativeCutLower>0.02</cumulativeCutLower>
                <cumulativeCutUpper>0.98</cumulativeCutUpper>
                <stdDevFactor>2</stdDevFactor>
              </minMaxOrigin>
              <colorPalette>
        \(entries.joined(separator: "\n"))
              </colorPalette>
            </rasterrenderer>
            <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
            <huesaturation colorizeOn="0" colorizeRed="255" colorizeGreen="128" colorizeBlue="128" colorizeStrength="100" saturation="0" grayscaleMode="0"/>
            <rasterresampler maxOversampling="2"/>
            <resamplingStage>resamplingFilter</resamplingStage>
          </pipe>
          <blendMode>0</blendMode>
        </qgis>

        """
    }

    /// A class name as STAC's classification extension allows it (`^[0-9A-Za-z-_]+$`).
    static func machineName(_ name: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        let s = String(name.map { allowed.contains($0) ? $0 : "_" })
        return s.isEmpty ? "class" : s
    }

    /// Another output as the STAC item refers to it: its file name when it lies beside the
    /// item, else its absolute path.
    func href(_ path: String) -> String {
        let item = URL(fileURLWithPath: stacItem).standardizedFileURL, file = URL(fileURLWithPath: path).standardizedFileURL
        return item.deletingLastPathComponent().path == file.deletingLastPathComponent().path ? file.lastPathComponent : file.path
    }

    /// The STAC Item of a finished class map.
    /// - Parameters:
    ///   - pixels: pixels per class.
    ///   - probabilities, preview: the other outputs of the run, listed as assets.
    public func stacItem(scene: RasterDataset, classes: [OutputClass], pixels: [Int], provenance: [String: String],
                         probabilities: String?, preview: String?, withConfidence: Bool, probabilityEncoding: ProbabilityEncoding = .float32,
                         created: Date = Date()) throws -> Data {
        let time = ISO8601DateFormatter().string(from: created)
        let valid = max(1, pixels.reduce(0, +))
        var classObjects: [[String: Any]] = zip(classes.indices, classes).map { i, c in
            ["value": i, "name": Self.machineName(c.name), "title": c.name, "color_hint": c.color.hex.dropFirst().uppercased(),
             "count": pixels[i], "percentage": 100 * Double(pixels[i]) / Double(valid)]
        }
        classObjects.append(["value": Int(SegmentOutputs.classNodata), "name": "nodata", "title": "nodata", "nodata": true])
        var properties: [String: Any] = [
            // The scene's acquisition time is not known to landscribe: the item's time is when the map was made.
            "datetime": time, "created": time,
            "label:description": "land cover classes mapped by landscribe from class names in plain words",
            "label:type": "raster", "label:properties": NSNull(), "label:tasks": ["segmentation"], "label:methods": ["automated"],
            "label:classes": [["name": NSNull(), "classes": classes.map(\.name)]],
            "label:overviews": [["property_key": NSNull(), "counts": zip(classes, pixels).map { ["name": $0.0.name, "count": $0.1] }]],
            "processing:software": ["landscribe": LandscribeVersion.current],
            "landscribe:provenance": provenance,
            "proj:shape": [scene.height, scene.width],
        ]
        var geometry: Any = NSNull()
        var bbox: [Double]?
        if let gt = scene.geoTransform {
            properties["proj:transform"] = [gt.pixelWidth, gt.rowRotation, gt.originX, gt.columnRotation, gt.pixelHeight, gt.originY]
        }
        if let crs = scene.spatialReference {
            properties["proj:epsg"] = crs.epsg.map { $0 as Any } ?? NSNull()
            if crs.epsg == nil { properties["proj:wkt2"] = crs.wkt }
            if let gt = scene.geoTransform {
                let footprint = try LonLatFootprint(width: scene.width, height: scene.height, geoTransform: gt, crs: crs)
                geometry = footprint.geoJSON
                bbox = footprint.bbox
            }
        }
        let cog = "image/tiff; application=geotiff; profile=cloud-optimized"
        var assets: [String: Any] = [
            "classes": ["href": href(classMap), "type": cog, "title": "class map", "roles": ["data", "labels"],
                        "classification:classes": classObjects,
                        "raster:bands": [["data_type": "uint8", "nodata": Int(SegmentOutputs.classNodata)]]],
            "style": ["href": href(style), "type": "application/xml", "title": "QGIS style (paletted renderer)", "roles": ["style", "metadata"]],
        ]
        if withConfidence {
            assets["confidence"] = ["href": href(confidence), "type": cog, "title": "winning class probability, percent", "roles": ["data", "quality"],
                                    "raster:bands": [["data_type": "uint8", "nodata": Int(SegmentOutputs.classNodata), "unit": "%"]]]
        }
        if let probabilities {
            assets["probabilities"] = ["href": href(probabilities), "type": cog, "title": "per-class probabilities", "roles": ["data"],
                                       "raster:bands": classes.map { c -> [String: Any] in
                                           probabilityEncoding == .byte
                                               ? ["data_type": "uint8", "nodata": Int(SegmentOutputs.classNodata), "scale": 1 / Double(ProbabilityEncoding.byteScale), "offset": 0, "name": c.name]
                                               : ["data_type": "float32", "nodata": Double(SegmentOutputs.probabilityNodata), "name": c.name]
                                       }]
        }
        if let preview { assets["preview"] = ["href": href(preview), "type": "image/png", "title": "preview", "roles": ["overview"]] }
        var item: [String: Any] = [
            "type": "Feature", "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/label/v1.0.1/schema.json",
                                "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
                                "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/processing/v1.1.0/schema.json"],
            "id": URL(fileURLWithPath: classMap).deletingPathExtension().lastPathComponent,
            "geometry": geometry, "properties": properties, "assets": assets,
            "links": [["rel": "derived_from", "href": URL(fileURLWithPath: scene.path).standardizedFileURL.path, "title": "the scene"]],
        ]
        if let bbox { item["bbox"] = bbox }
        return try JSONSerialization.data(withJSONObject: item, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// Writes `data` at `file`'s temporary name (its `OutputSet` commits it).
    public static func write(_ data: Data, to file: OutputFile) throws {
        do {
            try data.write(to: file.temporaryURL)
        } catch {
            throw GeoIOError("cannot write the \(file.role) '\(file.url.path)': \((error as NSError).localizedDescription)")
        }
    }
}

extension RunFrame {
    /// Writes the style, STAC item and area table of a finished class map into their temporary files.
    func writeSidecars(_ sidecars: ClassMapSidecars, outputs: OutputSet, written: SegmentOutputs, request: SegmentRequest) throws {
        let pixels = written.pixelCounts
        if let file = outputs.file(role: OutputRole.statistics) {
            let rows = ClassStatistics.rows(classes: outputClasses, pixels: pixels, areas: written.areas)
            try ClassMapSidecars.write(file.url.pathExtension.lowercased() == "json" ? ClassStatistics.json(rows) : Data(ClassStatistics.csv(rows).utf8), to: file)
        }
        if let file = outputs.file(role: OutputRole.style) {
            try ClassMapSidecars.write(Data(ClassMapSidecars.qml(classes: outputClasses).utf8), to: file)
        }
        if let file = outputs.file(role: OutputRole.stacItem) {
            try ClassMapSidecars.write(sidecars.stacItem(scene: scene, classes: outputClasses, pixels: pixels, provenance: provenance,
                                                         probabilities: request.probabilities, preview: request.preview,
                                                         withConfidence: request.confidence, probabilityEncoding: request.probabilityEncoding), to: file)
        }
    }
}
